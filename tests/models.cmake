# Real models from the shared folder against ONNX Runtime.
if(EXISTS ${CVM_SHARED_DIR}/models)
  add_test(NAME models.vs_onnxruntime
    COMMAND ${CVM_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/models/check_models.py
      $<TARGET_FILE:cvm_cli> ${CVM_SHARED_DIR} ${CMAKE_CURRENT_BINARY_DIR}/model-outputs
      --extra ${CMAKE_CURRENT_SOURCE_DIR}/data/exports
      --extra ${CMAKE_CURRENT_SOURCE_DIR}/data/exports/end2end)
  set_tests_properties(models.vs_onnxruntime PROPERTIES LABELS models TIMEOUT 2400)
endif()

# bf16 precision keeps the real models' detections on the shared images
# (skipped on a CPU without AMX-BF16 or AVX512_BF16).
if(EXISTS ${CVM_SHARED_DIR}/images)
  add_test(NAME models.bf16_detections
    COMMAND ${CVM_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/models/check_bf16.py
      $<TARGET_FILE:cvm_cli> ${CVM_SHARED_DIR} ${CMAKE_CURRENT_BINARY_DIR}/bf16-work)
  set_tests_properties(models.bf16_detections PROPERTIES LABELS models TIMEOUT 600 SKIP_RETURN_CODE 77)
endif()
