# Image layer: resizers bit-exact against OpenCV and Pillow (Python references).
add_executable(resize_tool ${CMAKE_CURRENT_SOURCE_DIR}/image/resize_tool.c)
target_include_directories(resize_tool PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(resize_tool PRIVATE cvm)
add_test(NAME image.resize_parity
  COMMAND ${CVM_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/image/resize_parity.py $<TARGET_FILE:resize_tool>)
set_tests_properties(image.resize_parity PROPERTIES LABELS image TIMEOUT 600 SKIP_RETURN_CODE 77)
