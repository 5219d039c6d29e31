"""ONNX side of the speed benchmarks: exports a benchmark model as a deployer would (Debian's
python3-torch, torch.onnx.export, opset 17, eval mode, constant folding) for bench/ort_peer.js,
together with the weights and inputs the C++ side loads, so that all sides compute the same thing.

  /usr/bin/python3 bench/onnx_export.py model=mobilenet_v3_small out=DIR [imgsz=224] [batches=1,16]
  /usr/bin/python3 bench/onnx_export.py model=yolov8n out=DIR [imgsz=640] [nc=7] [batches=1]

model: resnet18, mobilenet_v3_small, efficientnet_b0 (torchvision, num_classes=1) or yolov8n/s/m
(tests/oracle/yolov8_ref.py, Ultralytics' graph and key names; output (B, 4 + nc, A): boxes xywh in
input pixels, then class probabilities). Seeded random weights with BatchNorm affine and statistics
randomised, so folding BatchNorm is exercised. Writes, for each batch size b:
  DIR/MODEL.b{b}.onnx      static shape (b, 3, S, S), as Ultralytics' export (dynamic=False)
  DIR/MODEL.in{b}.bin      the input, float32 little-endian, NCHW, uniform [0, 1)
  DIR/MODEL.torch{b}.bin   PyTorch's eval output for it, float32
and DIR/MODEL.safetensors (the weights; the C++ side loads them by name). Prints one line per file.
"""
import os
import sys

import torch
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "oracle"))
import torchvision_oracle  # noqa: E402  (randomise: seeded weights, BatchNorm far from identity)
import yolov8_ref  # noqa: E402

args = dict(a.split("=", 1) for a in sys.argv[1:])
name, out = args["model"], args["out"]
is_yolo = name.startswith("yolov8")
imgsz = int(args.get("imgsz", 640 if is_yolo else 224))
batches = [int(b) for b in args.get("batches", "1" if is_yolo else "1,16").split(",")]
torch.set_num_threads(int(args.get("threads", 2)))
os.makedirs(out, exist_ok=True)


class BoxesOnly(torch.nn.Module):
    """yolov8_ref returns (output, raw maps); an exported detector returns the output only."""

    def __init__(self, net):
        super().__init__()
        self.net = net

    def forward(self, x):
        return self.net(x)[0]


torch.manual_seed(0)
if is_yolo:
    net = yolov8_ref.YOLOv8(name[len("yolov8"):], int(args.get("nc", 7)))
    yolov8_ref.randomise_bn(net)
    state = net.state_dict()
    net = BoxesOnly(net)
else:
    net = getattr(torchvision.models, name)(num_classes=1)
    torchvision_oracle.randomise(net, 99)
    state = net.state_dict()
net.eval()
yolov8_ref.write_safetensors(f"{out}/{name}.safetensors", state)
print(f"{out}/{name}.safetensors")
gen = torch.Generator().manual_seed(7)
for b in batches:
    x = torch.rand(b, 3, imgsz, imgsz, generator=gen)
    with torch.no_grad():
        y = net(x)
    x.numpy().tofile(f"{out}/{name}.in{b}.bin")
    y.numpy().tofile(f"{out}/{name}.torch{b}.bin")
    path = f"{out}/{name}.b{b}.onnx"
    torch.onnx.export(net, x, path, opset_version=17, do_constant_folding=True, input_names=["images"],
                      output_names=["output0"])
    print(path, tuple(y.shape))
