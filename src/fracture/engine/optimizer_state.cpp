#include "fracture/engine/optimizer_state.h"

#include <torch/torch.h>

#include <functional>
#include <map>

#include "fracture/core/error.h"

namespace fracture::engine {

namespace {

using namespace torch::optim;

torch::Tensor scalar(double v) { return torch::tensor(v, torch::kDouble); }

std::string key(size_t g, const std::string& field) { return "param_groups." + std::to_string(g) + "." + field; }
std::string key(size_t g, size_t p, const std::string& field) {
  return "state." + std::to_string(g) + "." + std::to_string(p) + "." + field;
}

// Adam and AdamW share their options' and state's fields.
template <class Options, class State>
void save_adam(const Options& o, const OptimizerParamState* s, size_t g, size_t p, bool group,
               models::NamedTensors& out) {
  if (group) {
    out.emplace_back(key(g, "lr"), scalar(o.lr()));
    out.emplace_back(key(g, "beta1"), scalar(std::get<0>(o.betas())));
    out.emplace_back(key(g, "beta2"), scalar(std::get<1>(o.betas())));
    out.emplace_back(key(g, "eps"), scalar(o.eps()));
    out.emplace_back(key(g, "weight_decay"), scalar(o.weight_decay()));
    out.emplace_back(key(g, "amsgrad"), scalar(o.amsgrad() ? 1 : 0));
    return;
  }
  const auto& st = static_cast<const State&>(*s);
  out.emplace_back(key(g, p, "step"), torch::tensor(st.step(), torch::kLong));
  out.emplace_back(key(g, p, "exp_avg"), st.exp_avg().detach().cpu().contiguous());
  out.emplace_back(key(g, p, "exp_avg_sq"), st.exp_avg_sq().detach().cpu().contiguous());
  if (st.max_exp_avg_sq().defined())
    out.emplace_back(key(g, p, "max_exp_avg_sq"), st.max_exp_avg_sq().detach().cpu().contiguous());
}

using Lookup = std::function<torch::Tensor(const std::string&)>;

template <class Options>
void load_adam_options(Options& o, size_t g, const Lookup& at) {
  o.lr(at(key(g, "lr")).item<double>());
  o.betas({at(key(g, "beta1")).item<double>(), at(key(g, "beta2")).item<double>()});
  o.eps(at(key(g, "eps")).item<double>());
  o.weight_decay(at(key(g, "weight_decay")).item<double>());
  o.amsgrad(at(key(g, "amsgrad")).item<double>() != 0);
}

// A state tensor for `param`: its shape checked, on its device and dtype.
torch::Tensor like(const torch::Tensor& v, const torch::Tensor& param, const std::string& k, const std::string& source) {
  FRACTURE_CHECK(v.sizes() == param.sizes(), source, ": ", k, " has shape ", v.sizes(), ", the parameter ",
                 param.sizes());
  return v.to(param.options()).clone();
}

template <class State>
std::unique_ptr<OptimizerParamState> load_adam_state(const std::map<std::string, torch::Tensor>& t, size_t g, size_t p,
                                                     const torch::Tensor& param, const Lookup& at,
                                                     const std::string& source) {
  if (!t.count(key(g, p, "step"))) return nullptr;
  auto st = std::make_unique<State>();
  st->step(at(key(g, p, "step")).template item<int64_t>());
  for (const char* f : {"exp_avg", "exp_avg_sq", "max_exp_avg_sq"}) {
    const std::string k = key(g, p, f);
    if (!t.count(k)) continue;
    torch::Tensor v = like(t.at(k), param, k, source);
    if (std::string(f) == "exp_avg") st->exp_avg(v);
    else if (std::string(f) == "exp_avg_sq") st->exp_avg_sq(v);
    else st->max_exp_avg_sq(v);
  }
  FRACTURE_CHECK(st->exp_avg().defined() && st->exp_avg_sq().defined(), source, ": ", key(g, p, "step"),
                 " without exp_avg and exp_avg_sq");
  return st;
}

}  // namespace

models::NamedTensors optimizer_state(const torch::optim::Optimizer& opt) {
  models::NamedTensors out;
  const auto& state = opt.state();
  const auto& groups = opt.param_groups();
  for (size_t g = 0; g < groups.size(); ++g) {
    const OptimizerOptions& o = groups[g].options();
    const auto* sgd = dynamic_cast<const SGDOptions*>(&o);
    const auto* adam = dynamic_cast<const AdamOptions*>(&o);
    const auto* adamw = dynamic_cast<const AdamWOptions*>(&o);
    FRACTURE_CHECK(sgd || adam || adamw, "optimizer state: only SGD, Adam and AdamW can be saved");
    if (sgd) {
      out.emplace_back(key(g, "lr"), scalar(sgd->lr()));
      out.emplace_back(key(g, "momentum"), scalar(sgd->momentum()));
      out.emplace_back(key(g, "dampening"), scalar(sgd->dampening()));
      out.emplace_back(key(g, "weight_decay"), scalar(sgd->weight_decay()));
      out.emplace_back(key(g, "nesterov"), scalar(sgd->nesterov() ? 1 : 0));
    } else if (adam) {
      save_adam<AdamOptions, AdamParamState>(*adam, nullptr, g, 0, true, out);
    } else {
      save_adam<AdamWOptions, AdamWParamState>(*adamw, nullptr, g, 0, true, out);
    }
    const auto& params = groups[g].params();
    for (size_t p = 0; p < params.size(); ++p) {
      auto it = state.find(c10::guts::to_string(params[p].unsafeGetTensorImpl()));
      if (it == state.end()) continue;
      if (sgd) {
        const auto& st = static_cast<const SGDParamState&>(*it->second);
        if (st.momentum_buffer().defined())
          out.emplace_back(key(g, p, "momentum_buffer"), st.momentum_buffer().detach().cpu().contiguous());
      } else if (adam) {
        save_adam<AdamOptions, AdamParamState>(*adam, it->second.get(), g, p, false, out);
      } else {
        save_adam<AdamWOptions, AdamWParamState>(*adamw, it->second.get(), g, p, false, out);
      }
    }
  }
  return out;
}

void load_optimizer_state(torch::optim::Optimizer& opt, const models::NamedTensors& tensors, const std::string& source) {
  const std::map<std::string, torch::Tensor> t(tensors.begin(), tensors.end());
  const Lookup at = [&](const std::string& k) -> torch::Tensor {
    auto it = t.find(k);
    FRACTURE_CHECK(it != t.end(), source, ": optimizer state without '", k,
                   "' (saved by another optimizer or with other parameter groups)");
    return it->second;
  };
  auto& state = opt.state();
  state.clear();
  auto& groups = opt.param_groups();
  for (size_t g = 0; g < groups.size(); ++g) {
    OptimizerOptions& o = groups[g].options();
    auto* sgd = dynamic_cast<SGDOptions*>(&o);
    auto* adam = dynamic_cast<AdamOptions*>(&o);
    auto* adamw = dynamic_cast<AdamWOptions*>(&o);
    FRACTURE_CHECK(sgd || adam || adamw, source, ": only SGD, Adam and AdamW states can be loaded");
    FRACTURE_CHECK(!sgd == !t.count(key(g, "momentum")), source, ": saved by another optimizer type");
    if (sgd) {
      sgd->lr(at(key(g, "lr")).item<double>());
      sgd->momentum(at(key(g, "momentum")).item<double>());
      sgd->dampening(at(key(g, "dampening")).item<double>());
      sgd->weight_decay(at(key(g, "weight_decay")).item<double>());
      sgd->nesterov(at(key(g, "nesterov")).item<double>() != 0);
    } else if (adam) {
      load_adam_options(*adam, g, at);
    } else {
      load_adam_options(*adamw, g, at);
    }
    const auto& params = groups[g].params();
    for (size_t p = 0; p < params.size(); ++p) {
      std::unique_ptr<OptimizerParamState> st;
      if (sgd) {
        const std::string k = key(g, p, "momentum_buffer");
        if (t.count(k)) {
          auto s = std::make_unique<SGDParamState>();
          s->momentum_buffer(like(t.at(k), params[p], k, source));
          st = std::move(s);
        }
      } else if (adam) {
        st = load_adam_state<AdamParamState>(t, g, p, params[p], at, source);
      } else {
        st = load_adam_state<AdamWParamState>(t, g, p, params[p], at, source);
      }
      if (st) state[c10::guts::to_string(params[p].unsafeGetTensorImpl())] = std::move(st);
    }
  }
}

}  // namespace fracture::engine
