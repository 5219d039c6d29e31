// How hard is each synth difficulty? Generates a small set per difficulty (in memory), trains a tiny
// CNN (4 conv blocks, global max pool) on the train split for a few epochs on CPU, and prints the
// AUROC (Mann-Whitney with midranks) on the val+test patients. A measurement, never pass/fail.
//
//   build/bench/synth_difficulty_bench [imgsz=96] [n=1200] [epochs=8] [seed=0] [threads=2]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <string>
#include <vector>

#include "fracture/data/synth.h"

namespace {

struct TinyCnnImpl : torch::nn::Module {
  torch::nn::Sequential features{nullptr};
  torch::nn::Linear fc{nullptr};
  TinyCnnImpl() {
    torch::nn::Sequential s;
    int in = 1;
    for (int out : {16, 32, 64, 64}) {
      s->push_back(torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, 3).padding(1).bias(false)));
      s->push_back(torch::nn::BatchNorm2d(out));
      s->push_back(torch::nn::ReLU());
      s->push_back(torch::nn::MaxPool2d(2));
      in = out;
    }
    features = register_module("features", s);
    fc = register_module("fc", torch::nn::Linear(64, 1));
  }
  torch::Tensor forward(torch::Tensor x) {  // (B, 1, S, S) -> (B) logits
    x = features->forward(x);
    x = std::get<0>(x.flatten(2).max(2));  // global max pool: a fracture is local
    return fc->forward(x).squeeze(1);
  }
};
TORCH_MODULE(TinyCnn);

// AUROC as the Mann-Whitney U statistic with midranks for ties.
double auroc(const std::vector<float>& score, const std::vector<int>& y) {
  std::vector<size_t> idx(score.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return score[a] < score[b]; });
  std::vector<double> rank(score.size());
  for (size_t i = 0; i < idx.size();) {
    size_t j = i;
    while (j + 1 < idx.size() && score[idx[j + 1]] == score[idx[i]]) ++j;
    for (size_t k = i; k <= j; ++k) rank[idx[k]] = 0.5 * (i + j) + 1;
    i = j + 1;
  }
  double n1 = 0, sum = 0;
  for (size_t i = 0; i < y.size(); ++i)
    if (y[i]) n1 += 1, sum += rank[i];
  double n0 = double(y.size()) - n1;
  return (sum - n1 * (n1 + 1) / 2) / (n1 * n0);
}

}  // namespace

int main(int argc, char** argv) {
  int imgsz = argc > 1 ? std::atoi(argv[1]) : 96;
  int n = argc > 2 ? std::atoi(argv[2]) : 1200;
  int epochs = argc > 3 ? std::atoi(argv[3]) : 8;
  int seed = argc > 4 ? std::atoi(argv[4]) : 0;
  int threads = argc > 5 ? std::atoi(argv[5]) : 2;
  torch::set_num_threads(threads);
  std::printf("synth difficulty bench: imgsz %d, n %d, epochs %d, seed %d, %d threads\n", imgsz, n, epochs, seed,
              threads);
  std::printf("| difficulty | train | test | test AUROC | seconds |\n|---|---|---|---|---|\n");
  for (const char* diff : {"easy", "medium", "hard"}) {
    auto t0 = std::chrono::steady_clock::now();
    fracture::SynthOptions o;
    o.n = n;
    o.imgsz = imgsz;
    o.seed = uint64_t(seed);
    o.difficulty = diff;
    auto plan = fracture::plan_synth(o);
    std::vector<torch::Tensor> xtr, xte;
    std::vector<int> ytr, yte;
    for (const auto& it : plan) {
      auto s = fracture::render_synth(o, it);
      auto t = torch::from_blob(s.image.data, {1, imgsz, imgsz}, torch::kFloat32).clone();
      if (it.split == "train")
        xtr.push_back(t), ytr.push_back(s.label);
      else
        xte.push_back(t), yte.push_back(s.label);
    }
    torch::Tensor Xtr = (torch::stack(xtr) - 0.3) / 0.25, Xte = (torch::stack(xte) - 0.3) / 0.25;
    torch::Tensor Ytr = torch::tensor(ytr, torch::kFloat32);

    torch::manual_seed(uint64_t(seed));
    TinyCnn net;
    torch::optim::Adam opt(net->parameters(), torch::optim::AdamOptions(2e-3));
    const int64_t B = 32, N = Xtr.size(0);
    for (int ep = 0; ep < epochs; ++ep) {
      net->train();
      torch::Tensor perm = torch::randperm(N);
      for (int64_t i = 0; i < N; i += B) {
        torch::Tensor id = perm.slice(0, i, std::min(N, i + B));
        torch::Tensor x = Xtr.index_select(0, id), y = Ytr.index_select(0, id);
        if (torch::rand({1}).item<float>() < 0.5) x = x.flip({3});
        torch::Tensor loss = torch::binary_cross_entropy_with_logits(net->forward(x), y);
        opt.zero_grad();
        loss.backward();
        opt.step();
      }
    }
    net->eval();
    torch::NoGradGuard ng;
    torch::Tensor p = net->forward(Xte).contiguous();
    std::vector<float> score(p.data_ptr<float>(), p.data_ptr<float>() + p.numel());
    double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::printf("| %s | %lld | %zu | %.3f | %.0f |\n", diff, (long long)N, yte.size(), auroc(score, yte), secs);
    std::fflush(stdout);
  }
  return 0;
}
