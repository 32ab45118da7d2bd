# Dependability checks of the engine (docs/RELIABILITY.md): a shared session
# under concurrent use and a soak run, with counts small enough for CI.  The
# full figures (8 x 200 concurrent runs, 10,000 soak runs) come from running
# the same programs by hand with larger counts.
get_filename_component(CVM_REPO_ROOT "${CMAKE_CURRENT_SOURCE_DIR}/.." ABSOLUTE)
set(CVM_REL_MODEL "${CMAKE_CURRENT_SOURCE_DIR}/data/exports/yolov8-det-tiny-160.onnx")
set(CVM_REL_DYN_MODEL "${CMAKE_CURRENT_SOURCE_DIR}/data/exports/yolov8-det-tiny-160-dynamic.onnx")

foreach(prog concurrency soak)
  add_executable(rel_${prog} ${CMAKE_CURRENT_SOURCE_DIR}/reliability/${prog}.c)
  target_include_directories(rel_${prog} PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(rel_${prog} PRIVATE cvm)
endforeach()

# Same data on every thread count and on a one-thread session: bit-identical.
add_test(NAME reliability.concurrency
  COMMAND rel_concurrency ${CVM_REL_MODEL} --threads 8 --iters 6 --variants 8 --create 1)
# Ten input sizes: concurrent runs build, share and evict cached plans.
add_test(NAME reliability.concurrency_shapes
  COMMAND rel_concurrency ${CVM_REL_DYN_MODEL} --threads 8 --iters 4 --sizes 64,96,128,160,192,224,256,288,32,320
          --create 0)
# Memory figures mean nothing under ASan (its quarantine holds freed blocks),
# so the soak runs only in ordinary builds; ASan checks leaks on its own.
if(NOT CVM_SANITIZE)
add_test(NAME reliability.soak
  COMMAND rel_soak ${CVM_REL_MODEL} --runs 300 --warmup 30 --samples 30 --bad-every 10)
# Load/free cycles: a session created, run and freed every 5th run.
add_test(NAME reliability.soak_reload
  COMMAND rel_soak ${CVM_REL_MODEL} --runs 400 --warmup 50 --samples 20 --reload-every 5 --bad-every 0)
set_tests_properties(reliability.soak reliability.soak_reload PROPERTIES LABELS reliability TIMEOUT 120)
endif()
set_tests_properties(reliability.concurrency reliability.concurrency_shapes
  PROPERTIES LABELS reliability TIMEOUT 120)

# ThreadSanitizer: its own build (library, concurrency driver, runtime unit
# tests) in the build tree; about a minute on 2 cores from scratch.
find_program(CVM_BASH bash)
if(CVM_BASH AND NOT CVM_SANITIZE AND NOT CVM_FUZZ)
  add_test(NAME reliability.tsan COMMAND ${CVM_BASH} ${CVM_REPO_ROOT}/scripts/tsan.sh ${CMAKE_BINARY_DIR}/tsan)
  set_tests_properties(reliability.tsan PROPERTIES LABELS "reliability;tsan" TIMEOUT 300)
endif()

# The bad-input unit test also sweeps damage over a real export.
if(TEST unit.test_bad_input)
  set_property(TEST unit.test_bad_input APPEND PROPERTY ENVIRONMENT "CVM_SOURCE_DIR=${CVM_REPO_ROOT}")
endif()
