# Real models from the shared folder against ONNX Runtime.
if(EXISTS ${CVM_SHARED_DIR}/models)
  add_test(NAME models.vs_onnxruntime
    COMMAND ${CVM_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/models/check_models.py
      $<TARGET_FILE:cvm_cli> ${CVM_SHARED_DIR} ${CMAKE_CURRENT_BINARY_DIR}/model-outputs
      --extra ${CMAKE_CURRENT_SOURCE_DIR}/data/exports
      --extra ${CMAKE_CURRENT_SOURCE_DIR}/data/exports/end2end)
  set_tests_properties(models.vs_onnxruntime PROPERTIES LABELS models TIMEOUT 2400)
endif()
