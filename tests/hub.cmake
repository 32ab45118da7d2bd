# Model-id resolution end to end: a local stand-in for the weights API and its
# file storage (Python standard library, 127.0.0.1 only) and the C client.
add_executable(hub_client ${CMAKE_CURRENT_SOURCE_DIR}/hub/hub_client.c)
target_include_directories(hub_client PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(hub_client PRIVATE cvm)
add_test(NAME hub.resolve_end_to_end
  COMMAND ${CVM_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/hub/run_hub_tests.py
    $<TARGET_FILE:hub_client> ${CMAKE_CURRENT_SOURCE_DIR}/data/exports/yolov8-det-tiny-160.onnx
    ${CMAKE_CURRENT_BINARY_DIR}/hub-work)
set_tests_properties(hub.resolve_end_to_end PROPERTIES LABELS hub TIMEOUT 300)
