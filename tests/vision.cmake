# cvm predict against the reference pipeline (tests/vision/oracle.py) on the
# shared images: real YOLOv8n/YOLO11n/YOLOv8n-seg and the random-weight
# exports (pose, classification, RF-DETR detection and segmentation, YOLOv10 and
# YOLO26 NMS-free heads, NMS fused into the graph).
if(EXISTS ${CVM_SHARED_DIR}/images)
  add_test(NAME vision.vs_oracle
    COMMAND ${CVM_PYTHON} ${CMAKE_CURRENT_SOURCE_DIR}/vision/compare.py
      $<TARGET_FILE:cvm_cli> ${CVM_SHARED_DIR}
      --exports ${CMAKE_CURRENT_SOURCE_DIR}/data/exports
      --fixtures ${CMAKE_CURRENT_SOURCE_DIR}/data/packages)
  set_tests_properties(vision.vs_oracle PROPERTIES LABELS vision TIMEOUT 600)
endif()
