// Independent reference implementations for the tests: plain loops in long double, written from
// the peers' definitions (verl core_algos, TRL GRPOTrainer, the paper), sharing no code with hadw.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <vector>

namespace ref {

using real = long double;

/// Groups as lists of caller indices, in order of first appearance of the group id.
inline std::vector<std::vector<std::size_t>> groups_of(const std::vector<int>& group_id) {
  std::map<int, std::size_t> slot;
  std::vector<std::vector<std::size_t>> groups;
  for (std::size_t i = 0; i < group_id.size(); ++i) {
    auto [it, inserted] = slot.try_emplace(group_id[i], groups.size());
    if (inserted) groups.emplace_back();
    groups[it->second].push_back(i);
  }
  return groups;
}

struct batch {
  std::vector<real> rewards;
  std::vector<int> group_id;           ///< per response
  std::vector<std::uint8_t> mask;      ///< empty: all valid
  std::vector<std::int64_t> lengths;   ///< empty: all 1
  bool valid(std::size_t i) const {
    return (mask.empty() || mask[i]) && !std::isnan(rewards[i]);
  }
  real weight(std::size_t i) const { return lengths.empty() ? 1 : real(lengths[i]); }
};

enum class est { grpo, dr_grpo, batch_raw, batch_centred, rloo, rpp, opo, gpg, passk };
enum class single { zero, raw };

struct options {
  real eps = 1e-6L;
  bool unbiased = true;
  single singleton = single::zero;
};

inline real mean(const std::vector<real>& v) {
  real s = 0;
  for (real x : v) s += x;
  return s / real(v.size());
}
inline real stdev(const std::vector<real>& v, bool unbiased) {
  const real m = mean(v);
  real s = 0;
  for (real x : v) s += (x - m) * (x - m);
  return std::sqrt(s / real(v.size() - (unbiased ? 1 : 0)));
}

/// The advantages per caller index (0 for excluded responses).
inline std::vector<real> advantages(const batch& b, est e, const options& o) {
  const auto groups = groups_of(b.group_id);
  std::vector<real> out(b.rewards.size(), 0);
  // Group means (verl's singleton: mean 0, std 1).
  std::vector<real> gmean(groups.size()), gstd(groups.size());
  std::vector<std::vector<std::size_t>> members(groups.size());
  for (std::size_t k = 0; k < groups.size(); ++k) {
    std::vector<real> v;
    for (auto i : groups[k])
      if (b.valid(i)) {
        v.push_back(b.rewards[i]);
        members[k].push_back(i);
      }
    if (v.size() == 1 && o.singleton == single::raw) {
      gmean[k] = 0;
      gstd[k] = 1;
    } else if (!v.empty()) {
      gmean[k] = mean(v);
      gstd[k] = v.size() > 1 || !o.unbiased ? stdev(v, o.unbiased) : 0;
    }
  }
  // Batch quantities.
  std::vector<real> all, centred;
  real wsum = 0, wc = 0;
  std::int64_t nonzero = 0;
  for (std::size_t k = 0; k < groups.size(); ++k) {
    const bool zeroed = members[k].size() == 1 && o.singleton == single::zero;
    if (zeroed) continue;  // dropped from every batch statistic
    for (auto i : members[k]) {
      all.push_back(b.rewards[i]);
      centred.push_back(b.rewards[i] - gmean[k]);
      nonzero += b.rewards[i] != 0;
      wsum += b.weight(i);
      wc += b.weight(i) * (b.rewards[i] - gmean[k]);
    }
  }
  const real wmu = wsum > 0 ? wc / wsum : 0;
  real wvar = 0;
  for (std::size_t k = 0; k < groups.size(); ++k) {
    if (members[k].size() == 1 && o.singleton == single::zero) continue;
    for (auto i : members[k]) {
      const real c = b.rewards[i] - gmean[k] - wmu;
      wvar += b.weight(i) * c * c;
    }
  }
  wvar /= (wsum - (o.unbiased ? 1 : 0));

  for (std::size_t k = 0; k < groups.size(); ++k) {
    const auto& m = members[k];
    if (m.empty() || (m.size() == 1 && o.singleton == single::zero)) continue;
    const real n = real(m.size());
    real sum = 0, lsum = 0, lr = 0;
    for (auto i : m) {
      sum += b.rewards[i];
      lsum += b.weight(i);
      lr += b.weight(i) * b.rewards[i];
    }
    // pass@k: first maximum and the best of the rest
    std::size_t best = m[0];
    for (auto i : m)
      if (b.rewards[i] > b.rewards[best]) best = i;
    real second = -INFINITY;
    for (auto i : m)
      if (i != best) second = std::max(second, b.rewards[i]);
    if (m.size() == 1) second = 0;  // raw singleton
    for (auto i : m) {
      const real r = b.rewards[i];
      real a = 0;
      switch (e) {
        case est::grpo: a = (r - gmean[k]) / (gstd[k] + o.eps); break;
        case est::dr_grpo: a = r - gmean[k]; break;
        case est::batch_raw: a = (r - gmean[k]) / (stdev(all, o.unbiased) + o.eps); break;
        case est::batch_centred: a = (r - gmean[k]) / (stdev(centred, o.unbiased) + o.eps); break;
        case est::rloo: a = m.size() == 1 ? r : r - (sum - r) / (n - 1); break;
        case est::rpp: a = (r - gmean[k] - wmu) / std::sqrt(wvar + o.eps); break;
        case est::opo: a = m.size() == 1 ? r : r - lr / lsum; break;
        case est::gpg:
          a = real(centred.size()) / real(std::max<std::int64_t>(1, nonzero)) * (r - gmean[k]);
          break;
        case est::passk: a = i == best ? (r - second) / (gstd[k] + o.eps) : 0; break;
      }
      out[i] = a;
    }
  }
  return out;
}

// ---- HA-DW (paper eq. 7-16), written from the equations ----

inline real sgn(real x) { return x > 0 ? 1 : (x < 0 ? -1 : 0); }

/// Phi = lambda exp(-sgn(A) sgn(p - C) |p - C|)
inline real phi(real adv, real p_hat, real belief, real lambda) {
  const real d = p_hat - belief;
  return lambda * std::exp(-sgn(adv) * sgn(d) * std::fabs(d));
}

/// The paper's Kalman-style anchor with the documented hadw defaults.
struct kalman {
  real eta = 0.1L, c = 0.5L;
  std::size_t m = 10;
  real warm_sigma = 1;
  bool init_first = false;
  std::vector<real> hist{};
  real last_eta = 0;
  void observe(real y) {
    if (hist.empty() && init_first) {
      c = y;
      last_eta = 1;
    } else {
      real sigma = warm_sigma;
      if (hist.size() >= 2) {
        real mu = 0;
        for (real h : hist) mu += h;
        mu /= real(hist.size());
        real s = 0;
        for (real h : hist) s += (h - mu) * (h - mu);
        sigma = std::sqrt(s / real(hist.size()));
      }
      last_eta = std::clamp(eta * sigma, real(0), real(1));
      c = (1 - last_eta) * c + last_eta * y;
    }
    hist.push_back(c);
    if (hist.size() > m) hist.erase(hist.begin());
  }
};

inline std::vector<real> random_binary(std::mt19937_64& rng, std::size_t n, double p) {
  std::bernoulli_distribution d(p);
  std::vector<real> v(n);
  for (auto& x : v) x = d(rng) ? 1 : 0;
  return v;
}

}  // namespace ref
