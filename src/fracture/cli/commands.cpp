#include "fracture/cli/commands.h"

namespace fracture::cli {

const std::vector<Command>& commands() {
  static const std::vector<Command> table = {
      {"synth", "", "generate a synthetic radiograph dataset: fracture synth out=DIR n=N imgsz=S seed=K", cmd_synth},
      {"check", "", "validate a dataset and report problems and leakage: fracture check data=PATH strict=true|false",
       cmd_check},
      {"study", "", "the whole protocol into one report: classifiers (CV), detectors, detector vs classifier: "
                    "fracture study data=data.yaml", cmd_study},
      {"predict", "", "per radiograph: calibrated probability, decision, triage, boxes, Grad-CAM overlay: "
                      "fracture predict model=STUDY_DIR source=IMAGE|FOLDER|DICOM", cmd_predict},
      {"serve", "", "the prediction of `fracture predict` as an HTTP service (POST /v1/predict, /health, /metrics, "
                    "/v1/model): fracture serve model=STUDY_DIR host=127.0.0.1 port=8080", cmd_serve},
      {"dicom-node", "", "a DICOM C-STORE SCP: predicts every radiograph it receives and sends an overlay (Secondary "
                         "Capture) and a result (Enhanced SR) to dest: fracture dicom-node model=STUDY_DIR "
                         "dest=PACS@host:104", cmd_dicom_node},
      {"classify", "train", "train a classifier on one split", cmd_classify_train},
      {"classify", "cv", "repeated stratified k-fold cross-validation study", cmd_classify_cv},
      {"classify", "val", "evaluate a trained classification run", cmd_classify_val},
      {"classify", "predict", "predict fracture probability for images", cmd_classify_predict},
      {"detect", "train", "train a YOLOv8 detector", cmd_detect_train},
      {"detect", "val", "validate a detector: P, R, mAP50, mAP50-95 per class", cmd_detect_val},
      {"detect", "predict", "detect fractures in images, folders or DICOM", cmd_detect_predict},
      {"weights", "inspect", "print the architecture, tensor and parameter counts of a checkpoint", cmd_weights_inspect},
      {"weights", "convert", "convert a checkpoint between torchvision .pth and safetensors", cmd_weights_convert},
  };
  return table;
}

}  // namespace fracture::cli
