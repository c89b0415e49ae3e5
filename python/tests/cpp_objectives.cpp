// The C++ side of python/tests/test_peer_objectives.py: hadw::policy_loss is C++ only, so the
// test feeds batches to this driver and compares what it prints with verl's and TRL's losses
// run under torch autograd on the same values.
//   stdin:  the number of cases, then per case
//             name level(token|sequence) dtype(f32|f64) low high dual_c mode C N L per_token_adv
//             logp[N*L] old_logp[N*L] advantages[N or N*L] (hex floats) mask[N*L] (0/1)
//   stdout: per case "<name> loss <%a>", "<name> grad <%a> ..." (row-major) and
//           "<name> stats clip dual k1 k3 ratio_min ratio_max tokens sequences"
#include <hadw/objectives.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <span>
#include <string>
#include <vector>

namespace {

double read_double() {
  std::string s;
  std::cin >> s;
  return std::strtod(s.c_str(), nullptr);  // hex floats round-trip exactly
}

template <class T>
std::vector<T> read_values(std::size_t n) {
  std::vector<T> v(n);
  for (T& x : v) x = static_cast<T>(read_double());
  return v;
}

struct header {
  std::string name, level, dtype, mode;
  double low = 0, high = 0, dual_c = 0, C = 0;
  std::int64_t N = 0, L = 0;
  int per_token_adv = 0;
};

template <class O, class T>
void run(const header& h, O o) {
  const auto NL = static_cast<std::size_t>(h.N * h.L);
  const auto lp = read_values<T>(NL);
  const auto old = read_values<T>(NL);
  const auto adv = read_values<T>(h.per_token_adv ? NL : static_cast<std::size_t>(h.N));
  std::vector<std::uint8_t> mask(NL);
  for (auto& m : mask) {
    int x = 0;
    std::cin >> x;
    m = static_cast<std::uint8_t>(x);
  }
  o.clip = {.low = h.low, .high = h.high};
  o.dual_clip_c = h.dual_c;
  o.agg.mode = hadw::parse_loss_agg(h.mode);
  o.agg.normaliser = h.C;
  std::vector<T> grad(NL);
  const auto r = hadw::policy_loss(
      o,
      hadw::policy_batch<T>{
          .logp = lp, .old_logp = old, .advantages = adv, .mask = mask, .row_length = h.L},
      std::span<T>(grad));
  std::printf("%s loss %a\n%s grad", h.name.c_str(), r.loss, h.name.c_str());
  for (T g : grad) std::printf(" %a", static_cast<double>(g));
  std::printf("\n%s stats %a %a %a %a %a %a %lld %lld\n", h.name.c_str(), r.clip_fraction,
              r.dual_clip_fraction, r.approx_kl, r.approx_kl_k3, r.ratio_min, r.ratio_max,
              static_cast<long long>(r.tokens), static_cast<long long>(r.sequences));
}

template <class T>
void dispatch_level(const header& h) {
  if (h.level == "sequence")
    run<hadw::gspo_objective, T>(h, {});
  else
    run<hadw::grpo_objective, T>(h, {});
}

}  // namespace

int main() {
  int cases = 0;
  std::cin >> cases;
  for (int c = 0; c < cases; ++c) {
    header h;
    std::cin >> h.name >> h.level >> h.dtype;
    h.low = read_double();
    h.high = read_double();
    h.dual_c = read_double();
    std::cin >> h.mode;
    h.C = read_double();
    std::cin >> h.N >> h.L >> h.per_token_adv;
    if (h.dtype == "f32")
      dispatch_level<float>(h);
    else
      dispatch_level<double>(h);
  }
}
