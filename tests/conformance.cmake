# ONNX operator conformance: the C runner over Debian's libonnx-testdata and
# over the cases the installed onnx wheel generates (newer opsets).
add_executable(conformance ${CMAKE_CURRENT_SOURCE_DIR}/conformance/runner.c)
target_include_directories(conformance PRIVATE ${PROJECT_SOURCE_DIR}/src)
target_link_libraries(conformance PRIVATE cvm)

set(CVM_CONFORMANCE_EXCLUDE ${CMAKE_CURRENT_SOURCE_DIR}/conformance/exclusions.txt)

if(EXISTS ${CVM_ONNX_TESTDATA})
  add_test(NAME conformance.debian
    COMMAND conformance --exclude ${CVM_CONFORMANCE_EXCLUDE} ${CVM_ONNX_TESTDATA})
  set_tests_properties(conformance.debian PROPERTIES LABELS conformance TIMEOUT 1800)
endif()

add_test(NAME conformance.onnx_wheel
  COMMAND ${CMAKE_COMMAND} -E env
    ${CVM_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/conformance/run_wheel_cases.py
    $<TARGET_FILE:conformance> ${CMAKE_CURRENT_BINARY_DIR}/onnx-wheel-cases ${CVM_CONFORMANCE_EXCLUDE})
set_tests_properties(conformance.onnx_wheel PROPERTIES LABELS conformance TIMEOUT 1800)
