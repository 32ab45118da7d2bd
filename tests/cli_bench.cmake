# `cvm bench` on a vision model: the JSON report's fields and consistency, and
# the errors for a missing image or model (standard-library Python only).
set(CVM_BENCH_CHECK ${CMAKE_CURRENT_SOURCE_DIR}/cli/check_bench.py)
set(CVM_BENCH_ARGS $<TARGET_FILE:cvm_cli> ${CMAKE_CURRENT_SOURCE_DIR}/data
    ${CMAKE_CURRENT_BINARY_DIR}/cli-bench-work)
add_test(NAME cli.bench_json COMMAND ${CVM_PYTHON} ${CVM_BENCH_CHECK} json ${CVM_BENCH_ARGS})
add_test(NAME cli.bench_errors COMMAND ${CVM_PYTHON} ${CVM_BENCH_CHECK} errors ${CVM_BENCH_ARGS})
set_tests_properties(cli.bench_json cli.bench_errors PROPERTIES LABELS cli TIMEOUT 120)

# The benchmarks' ctypes structures against include/cvm/cvm.h, field for field.
add_test(NAME cli.ctypes_mirror
         COMMAND ${CVM_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/cli/check_ctypes.py ${CMAKE_CURRENT_SOURCE_DIR}/..)
set_tests_properties(cli.ctypes_mirror PROPERTIES LABELS cli TIMEOUT 60)

# bench/compare_ort.py's FLOP count on graphs of known size, one of them with
# a shape known only at run time (onnx, onnxruntime and numpy).
add_test(NAME cli.bench_flops
         COMMAND ${CVM_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/cli/check_flops.py ${CMAKE_CURRENT_SOURCE_DIR}/..)
set_tests_properties(cli.bench_flops PROPERTIES LABELS cli TIMEOUT 120)
