// Tests of hadw/objectives/policy_loss.hpp: GRPO, DAPO and GSPO losses against a naive
// reference written here from verl's formulas, gradients against central finite differences of
// that reference, the clip boundaries through the full API, GSPO's ratio, HA-DW composition,
// data-parallel splitting, and argument errors.
#include <hadw/objectives/policy_loss.hpp>
#include <hadw/weighting/phi.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <utility>
#include <vector>

namespace {

using hadw::loss_agg;

constexpr loss_agg all_modes[] = {loss_agg::token_mean, loss_agg::token_sum,
                                  loss_agg::seq_mean_token_sum, loss_agg::seq_mean_token_mean,
                                  loss_agg::seq_mean_token_sum_norm};

// A batch in double, advantages per token, validity as a 0/1 mask.
struct batch_data {
  std::int64_t N = 0, L = 0;
  std::vector<double> logp, old_logp, adv_row, adv_tok;
  std::vector<std::uint8_t> mask;
  std::vector<std::int64_t> lengths;
};

struct ref_config {
  bool sequence = false;
  double lo = 0.2, hi = 0.2, c = 0.0;
  loss_agg mode = loss_agg::token_mean;
  double C = 16.0;
};

struct ref_result {
  double loss = 0, clipfrac = 0, dualfrac = 0, rmean = 0, rmin = 1e300, rmax = -1e300, k1 = 0,
         k3 = 0;
};

// verl's compute_policy_loss_vanilla / compute_policy_loss_gspo and agg_loss, written as plain
// loops over a [N, L] matrix with a 0/1 mask. `adv` is per token.
ref_result reference(const batch_data& b, const std::vector<double>& logp,
                     const std::vector<double>& adv, const ref_config& cfg) {
  const auto N = static_cast<std::size_t>(b.N), L = static_cast<std::size_t>(b.L);
  std::vector<double> lm(N * L, 0.0), ratio(N * L, 1.0);
  ref_result r;
  double T = 0;
  for (std::size_t i = 0; i < N; ++i) {
    double len = 0, lr_sum = 0;
    for (std::size_t t = 0; t < L; ++t) {
      len += b.mask[i * L + t];
      lr_sum += b.mask[i * L + t] ? logp[i * L + t] - b.old_logp[i * L + t] : 0.0;
    }
    const double seq_log = std::min(lr_sum / std::max(len, 1.0), 10.0);
    for (std::size_t t = 0; t < L; ++t) {
      const std::size_t k = i * L + t;
      const double lr = logp[k] - b.old_logp[k];
      const double nak = std::clamp(lr, -20.0, 20.0);
      ratio[k] = cfg.sequence ? std::exp(seq_log) : std::exp(nak);
      const double A = adv[k];
      const double pg1 = -A * ratio[k];
      const double pg2 = -A * std::clamp(ratio[k], 1 - cfg.lo, 1 + cfg.hi);
      const double clip1 = std::max(pg1, pg2);
      double l = clip1;
      bool dual = false;
      if (cfg.c > 0) {
        const double pg3 = -A * cfg.c;
        dual = A < 0 && clip1 > pg3;
        if (A < 0) l = std::min(pg3, clip1);
      }
      lm[k] = l;
      if (!b.mask[k]) continue;
      T += 1;
      r.clipfrac += pg2 > pg1;
      r.dualfrac += dual;
      r.rmean += ratio[k];
      r.rmin = std::min(r.rmin, ratio[k]);
      r.rmax = std::max(r.rmax, ratio[k]);
      r.k1 += cfg.sequence ? -lr : -nak;
      r.k3 += std::clamp(std::exp(nak) - 1 - nak, -10.0, 10.0);  // verl's low_var_kl
    }
  }
  // agg_loss
  double sum = 0, seq_sum = 0, seq_mean = 0, S = 0;
  for (std::size_t i = 0; i < N; ++i) {
    double row = 0, n = 0;
    for (std::size_t t = 0; t < L; ++t) {
      row += b.mask[i * L + t] ? lm[i * L + t] : 0.0;
      n += b.mask[i * L + t];
    }
    sum += row;
    if (n > 0) {
      S += 1;
      seq_sum += row;
      seq_mean += row / n;
    }
  }
  switch (cfg.mode) {
    case loss_agg::token_mean:
      r.loss = T > 0 ? sum / T : 0;
      break;
    case loss_agg::token_sum:
      r.loss = sum;
      break;
    case loss_agg::seq_mean_token_sum:
      r.loss = S > 0 ? seq_sum / S : 0;
      break;
    case loss_agg::seq_mean_token_mean:
      r.loss = S > 0 ? seq_mean / S : 0;
      break;
    case loss_agg::seq_mean_token_sum_norm:
      r.loss = S > 0 ? seq_sum / S / cfg.C : 0;
      break;
  }
  if (T > 0) {
    r.clipfrac /= T;
    r.dualfrac /= T;
    r.rmean /= T;
    r.k1 /= T;
    r.k3 /= T;
  }
  return r;
}

std::vector<double> broadcast(const batch_data& b) {
  std::vector<double> out(b.logp.size());
  for (std::size_t k = 0; k < out.size(); ++k)
    out[k] = b.adv_row[k / static_cast<std::size_t>(b.L)];
  return out;
}

// Distance of x from the nearest of `kinks` (log-ratio space).
bool near_any(double x, std::initializer_list<double> kinks, double tol) {
  for (double k : kinks)
    if (std::fabs(x - k) < tol) return true;
  return false;
}

// Token-level test data: log-ratios spread over both clip bounds and beyond the dual-clip
// constant 3, kept 1e-4 away from every kink so that central differences see smooth functions.
batch_data token_data(std::uint64_t seed, std::int64_t N, std::int64_t L) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> lr(-0.45, 1.3), old(-4.0, -0.05), adv(-2.0, 2.0);
  std::uniform_int_distribution<std::int64_t> len(0, L);
  batch_data b;
  b.N = N;
  b.L = L;
  b.logp.resize(N * L);
  b.old_logp.resize(N * L);
  b.adv_tok.resize(N * L);
  b.mask.resize(N * L);
  b.lengths.resize(N);
  for (std::int64_t i = 0; i < N; ++i) {
    b.lengths[i] = i == 0 ? L : (i == 1 ? 0 : len(rng));  // a full row and an empty row
    double a = adv(rng);
    if (std::fabs(a) < 0.05) a = 0.5;
    b.adv_row.push_back(a);
    for (std::int64_t t = 0; t < L; ++t) {
      const auto k = static_cast<std::size_t>(i * L + t);
      double d;
      do d = lr(rng);
      while (near_any(d, {std::log(0.8), std::log(1.2), std::log(1.28), std::log(3.0)}, 1e-4));
      b.old_logp[k] = old(rng);
      b.logp[k] = b.old_logp[k] + d;
      b.adv_tok[k] = adv(rng);
      b.mask[k] = t < b.lengths[i] ? 1 : 0;
    }
  }
  return b;
}

// GSPO test data: each row's mean log-ratio is one of a few targets on both sides of the tight
// GSPO bounds (log(1 - 3e-4), log(1 + 4e-4)) and >= 1e-4 away from them.
batch_data sequence_data(std::uint64_t seed, std::int64_t N, std::int64_t L) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, 0.05);
  std::uniform_real_distribution<double> old(-4.0, -0.05), adv(-2.0, 2.0);
  std::uniform_int_distribution<std::int64_t> len(1, L);
  const double targets[] = {-2e-3, -1e-4, 0.0, 1.5e-4, 2e-3};
  batch_data b;
  b.N = N;
  b.L = L;
  b.logp.resize(N * L);
  b.old_logp.resize(N * L);
  b.adv_tok.resize(N * L);
  b.mask.resize(N * L);
  for (std::int64_t i = 0; i < N; ++i) {
    const std::int64_t n = i == 1 ? 0 : len(rng);
    b.lengths.push_back(n);
    double a = adv(rng);
    if (std::fabs(a) < 0.05) a = -0.5;
    b.adv_row.push_back(a);
    std::vector<double> z(static_cast<std::size_t>(std::max<std::int64_t>(n, 1)));
    double zmean = 0;
    for (auto& v : z) zmean += (v = noise(rng));
    zmean /= static_cast<double>(z.size());
    const double m = targets[static_cast<std::size_t>(i) % 5];
    for (std::int64_t t = 0; t < L; ++t) {
      const auto k = static_cast<std::size_t>(i * L + t);
      b.old_logp[k] = old(rng);
      b.mask[k] = t < n ? 1 : 0;
      b.logp[k] = b.old_logp[k] + (t < n ? m + z[static_cast<std::size_t>(t)] - zmean : noise(rng));
      b.adv_tok[k] = adv(rng);
    }
  }
  return b;
}

template <class O>
ref_config config_of(const O& o) {
  return {O::level == hadw::ratio_level::sequence,
          o.clip.low,
          o.clip.high,
          o.dual_clip_c,
          o.agg.mode,
          o.agg.normaliser};
}

enum class validity { mask, lengths };

template <class O>
hadw::policy_loss_result run(const O& o, const batch_data& b, const std::vector<double>& logp,
                             const std::vector<double>& adv, validity v,
                             std::vector<double>& grad) {
  grad.assign(logp.size(), -7.0);
  hadw::policy_batch<double> pb{.logp = logp,
                                .old_logp = b.old_logp,
                                .advantages = adv,
                                .mask = {},
                                .lengths = {},
                                .row_length = b.L};
  if (v == validity::mask)
    pb.mask = b.mask;
  else
    pb.lengths = b.lengths;
  return hadw::policy_loss(o, pb, std::span<double>(grad));
}

// The code's loss, diagnostics and gradient against the reference and central differences of it.
template <class O>
void check_against_reference(const O& o, const batch_data& b, bool per_token_adv, validity v,
                             double h) {
  const std::vector<double>& adv = per_token_adv ? b.adv_tok : b.adv_row;
  const std::vector<double> adv_tok = per_token_adv ? b.adv_tok : broadcast(b);
  const ref_config cfg = config_of(o);
  std::vector<double> grad;
  const auto got = run(o, b, b.logp, adv, v, grad);
  const auto ref = reference(b, b.logp, adv_tok, cfg);

  CHECK(got.loss == Approx(ref.loss).epsilon(1e-12).margin(1e-14));
  CHECK(got.clip_fraction == Approx(ref.clipfrac).epsilon(1e-14));
  CHECK(got.dual_clip_fraction == Approx(ref.dualfrac).epsilon(1e-14));
  CHECK(got.ratio_mean == Approx(ref.rmean).epsilon(1e-13));
  CHECK(got.ratio_min == Approx(ref.rmin).epsilon(1e-14));
  CHECK(got.ratio_max == Approx(ref.rmax).epsilon(1e-14));
  CHECK(got.approx_kl == Approx(ref.k1).epsilon(1e-12).margin(1e-15));
  CHECK(got.approx_kl_k3 == Approx(ref.k3).epsilon(1e-12).margin(1e-15));

  std::vector<double> lp = b.logp;
  for (std::size_t k = 0; k < lp.size(); ++k) {
    if (!b.mask[k]) {
      CHECK(grad[k] == 0.0);
      continue;
    }
    const double x = lp[k];
    lp[k] = x + h;
    const double up = reference(b, lp, adv_tok, cfg).loss;
    lp[k] = x - h;
    const double down = reference(b, lp, adv_tok, cfg).loss;
    lp[k] = x;
    const double fd = (up - down) / (2 * h);
    INFO("token " << k << " of " << lp.size());
    CHECK(grad[k] == Approx(fd).epsilon(1e-6).margin(1e-8));
  }
}

template <class O>
O with_mode(O o, loss_agg mode) {
  o.agg.mode = mode;
  o.agg.normaliser = 16.0;
  return o;
}

}  // namespace

TEST_CASE("GRPO loss, diagnostics and gradient match the reference and finite differences",
          "[objectives][policy_loss][grpo][gradient]") {
  const auto b = token_data(1, 9, 12);
  for (auto mode : all_modes)
    for (bool per_token : {false, true})
      for (auto v : {validity::mask, validity::lengths}) {
        INFO("mode " << hadw::loss_agg_name(mode) << ", per-token advantages " << per_token);
        check_against_reference(with_mode(hadw::grpo_objective{}, mode), b, per_token, v, 1e-6);
      }
}

TEST_CASE("DAPO loss (clip-higher), with and without dual-clip, matches the reference",
          "[objectives][policy_loss][dapo][gradient]") {
  const auto b = token_data(2, 9, 12);
  for (auto mode : all_modes)
    for (double c : {0.0, 3.0}) {
      INFO("mode " << hadw::loss_agg_name(mode) << ", dual_clip_c " << c);
      auto o = with_mode(hadw::dapo_objective{}, mode);
      o.dual_clip_c = c;
      check_against_reference(o, b, false, validity::mask, 1e-6);
      check_against_reference(o, b, true, validity::lengths, 1e-6);
    }
  // The data reach every regime: both clips and the dual clip are exercised.
  std::vector<double> g;
  auto o = hadw::dapo_objective{};
  o.dual_clip_c = 3.0;
  const auto r = run(o, b, b.logp, b.adv_tok, validity::mask, g);
  CHECK(r.clip_fraction > 0.05);
  CHECK(r.dual_clip_fraction > 0.0);
}

TEST_CASE("GSPO loss and gradient match the sequence-level objective's finite differences",
          "[objectives][policy_loss][gspo][gradient]") {
  // With one advantage per response, verl's stand-in sg[s_i] exp(logp - sg[logp]) gives the
  // exact gradient of the scalar sequence objective in every aggregation mode.
  const auto b = sequence_data(3, 10, 9);
  for (auto mode : all_modes)
    for (auto v : {validity::mask, validity::lengths}) {
      INFO("mode " << hadw::loss_agg_name(mode));
      check_against_reference(with_mode(hadw::gspo_objective{}, mode), b, false, v, 1e-6);
    }
  std::vector<double> g;
  const auto r = run(hadw::gspo_objective{}, b, b.logp, b.adv_row, validity::mask, g);
  CHECK(r.clip_fraction > 0.0);
  CHECK(r.clip_fraction < 1.0);
}

TEST_CASE("GSPO-token with per-token advantages has verl's stand-in gradient",
          "[objectives][policy_loss][gspo]") {
  // d loss / d logp_{i,t} = w_i * l'(s_i; A_{i,t}) * s_i, w_i = 1 / (S n_i) in seq-mean-token-mean.
  const auto b = sequence_data(4, 6, 7);
  std::vector<double> grad;
  const hadw::gspo_objective o{};
  run(o, b, b.logp, b.adv_tok, validity::mask, grad);
  double S = 0;
  for (auto n : b.lengths) S += n > 0;
  for (std::int64_t i = 0; i < b.N; ++i) {
    const double n = static_cast<double>(b.lengths[i]);
    if (n == 0) continue;
    double m = 0;
    for (std::int64_t t = 0; t < b.lengths[i]; ++t)
      m += b.logp[i * b.L + t] - b.old_logp[i * b.L + t];
    const double s = std::exp(m / n);
    for (std::int64_t t = 0; t < b.lengths[i]; ++t) {
      const double A = b.adv_tok[i * b.L + t];
      const bool active = A > 0 ? s <= 1 + o.clip.high : s >= 1 - o.clip.low;
      const double expected = active ? -A * s / (S * n) : 0.0;
      CHECK(grad[i * b.L + t] == Approx(expected).epsilon(1e-12).margin(1e-15));
    }
  }
}

TEST_CASE("GSPO's sequence ratio equals the token ratio when all token ratios are equal",
          "[objectives][policy_loss][gspo]") {
  const std::int64_t N = 4, L = 6;
  const double d[N] = {2e-4, 1e-3, -1e-3, 0.15};
  std::vector<double> logp(N * L), old(N * L), adv = {1.0, -0.5, 2.0, -1.5};
  std::vector<std::int64_t> lengths = {6, 3, 5, 1};
  for (std::int64_t i = 0; i < N; ++i)
    for (std::int64_t t = 0; t < L; ++t) {
      old[i * L + t] = -1.0 - 0.1 * static_cast<double>(t);
      logp[i * L + t] = old[i * L + t] + d[i];
    }
  const hadw::policy_batch<double> pb{
      .logp = logp, .old_logp = old, .advantages = adv, .lengths = lengths, .row_length = L};

  // Same clip range and aggregation: the sequence objective is the token objective.
  hadw::gspo_objective gspo{};
  gspo.clip = {.low = 0.2, .high = 0.28};
  const hadw::dapo_objective dapo{.agg = {.mode = loss_agg::seq_mean_token_mean}};
  std::vector<double> g_seq(N * L), g_tok(N * L);
  const auto rs = hadw::policy_loss(gspo, pb, std::span<double>(g_seq));
  const auto rt = hadw::policy_loss(dapo, pb, std::span<double>(g_tok));
  CHECK(rs.loss == Approx(rt.loss).epsilon(1e-14));
  CHECK(rs.ratio_mean == Approx(rt.ratio_mean).epsilon(1e-14));
  CHECK(rs.ratio_min == Approx(rt.ratio_min).epsilon(1e-14));
  CHECK(rs.ratio_max == Approx(rt.ratio_max).epsilon(1e-14));
  CHECK(rs.clip_fraction == rt.clip_fraction);
  for (std::size_t k = 0; k < g_seq.size(); ++k) CHECK(g_seq[k] == Approx(g_tok[k]).epsilon(1e-13));

  // One row at a time, the reported ratio is exp(d).
  for (std::int64_t i = 0; i < N; ++i) {
    const auto row =
        hadw::policy_batch<double>{.logp = std::span<const double>(logp).subspan(i * L, L),
                                   .old_logp = std::span<const double>(old).subspan(i * L, L),
                                   .advantages = std::span<const double>(adv).subspan(i, 1),
                                   .lengths = std::span<const std::int64_t>(lengths).subspan(i, 1),
                                   .row_length = L};
    const auto r = hadw::policy_loss(hadw::gspo_objective{}, row);
    CHECK(r.ratio_mean == Approx(std::exp(d[i])).epsilon(1e-14));
  }
}

TEST_CASE("through the full API, DAPO clips exactly where the ratio crosses 1 - 0.2 and 1 + 0.28",
          "[objectives][policy_loss][boundary]") {
  const hadw::dapo_objective o{};
  const auto one_token = [&](double log_ratio, double A) {
    const double old = -0.7, lp = old + log_ratio;
    double g = 0;
    const hadw::policy_batch<double> pb{.logp = std::span<const double>(&lp, 1),
                                        .old_logp = std::span<const double>(&old, 1),
                                        .advantages = std::span<const double>(&A, 1),
                                        .row_length = 1};
    const auto r = hadw::policy_loss(o, pb, std::span<double>(&g, 1));
    return std::pair{r, g};
  };
  const double eps = 1e-9;
  {
    const auto [r, g] = one_token(std::log(1.28) - eps, 1.0);
    CHECK(r.clip_fraction == 0.0);
    CHECK(g == Approx(-std::exp(std::log(1.28) - eps)).epsilon(1e-15));
  }
  {
    const auto [r, g] = one_token(std::log(1.28) + eps, 1.0);
    CHECK(r.clip_fraction == 1.0);
    CHECK(r.loss == Approx(-1.28).epsilon(1e-15));
    CHECK(g == 0.0);
  }
  {
    const auto [r, g] = one_token(std::log(0.8) + eps, -1.0);
    CHECK(r.clip_fraction == 0.0);
    CHECK(g == Approx(std::exp(std::log(0.8) + eps)).epsilon(1e-15));
  }
  {
    const auto [r, g] = one_token(std::log(0.8) - eps, -1.0);
    CHECK(r.clip_fraction == 1.0);
    CHECK(r.loss == Approx(0.8).epsilon(1e-15));
    CHECK(g == 0.0);
  }
  {  // GRPO's symmetric bound clips a ratio DAPO still learns from.
    const double old = -0.7, lp = old + std::log(1.25), A = 1.0;
    double g = 1;
    const hadw::policy_batch<double> pb{.logp = std::span<const double>(&lp, 1),
                                        .old_logp = std::span<const double>(&old, 1),
                                        .advantages = std::span<const double>(&A, 1),
                                        .row_length = 1};
    CHECK(hadw::policy_loss(hadw::grpo_objective{}, pb, std::span<double>(&g, 1)).clip_fraction ==
          1.0);
    CHECK(g == 0.0);
  }
}

namespace {

// One valid token (a [1, 1] batch): the loss, diagnostics and d loss / d logp.
template <class T, class O>
std::pair<hadw::policy_loss_result, T> one_token(const O& o, T logp, T old_logp, T adv) {
  T g = 7;
  const hadw::policy_batch<T> pb{.logp = std::span<const T>(&logp, 1),
                                 .old_logp = std::span<const T>(&old_logp, 1),
                                 .advantages = std::span<const T>(&adv, 1),
                                 .row_length = 1};
  const auto r = hadw::policy_loss(o, pb, std::span<T>(&g, 1));
  return {r, g};
}

// A log-probability x near `guess` with exp(x) == target exactly (the ratio on a bound).
double log_onto(double target, double guess) {
  double x = guess;
  for (int k = 0; k < 64 && std::exp(x) != target; ++k)
    x = std::nextafter(x, std::exp(x) < target ? 1.0 : -1.0);
  return x;
}

}  // namespace

TEST_CASE("a ratio exactly on a clip bound gets half the gradient, as verl under torch autograd",
          "[objectives][policy_loss][boundary]") {
  // torch.maximum(-A r, -A clamp(r)) ties on the bound and splits the gradient; the clamp passes
  // none there. verl 0.9.1: d loss / d logp = -0.5 * 1.2 = -0.6 at r = 1.2, A = 1.
  const double up = log_onto(1.2, std::log(1.2));
  REQUIRE(std::exp(up) == 1.2);
  const auto [r, g] = one_token(hadw::grpo_objective{}, up, 0.0, 1.0);
  CHECK(g == -0.6);
  CHECK(r.loss == -1.2);
  CHECK(r.clip_fraction == 0.0);
  CHECK(one_token(hadw::grpo_objective{}, up, 0.0, -1.0).second == 0.6);  // either sign of A
  CHECK(one_token(hadw::dapo_objective{}, up, 0.0, 1.0).second == -1.2);  // inside DAPO's range

  const double down = log_onto(0.8, std::log(0.8));
  REQUIRE(std::exp(down) == 0.8);
  const auto [rl, gl] = one_token(hadw::dapo_objective{}, down, 0.0, -1.0);
  CHECK(gl == 0.4);
  CHECK(rl.loss == 0.8);
  CHECK(rl.clip_fraction == 0.0);
}

TEST_CASE("a log-ratio exactly at +-20 and a GSPO log-ratio exactly at 10 pass no gradient",
          "[objectives][policy_loss][boundary]") {
  // The unclipped branch is active (A < 0 above, A > 0 below), so only the clamp stops it.
  const hadw::grpo_objective grpo{};
  const auto [r_up, g_up] = one_token(grpo, 0.0, -20.0, -1.0);
  CHECK(r_up.loss == std::exp(20.0));
  CHECK(g_up == 0.0);
  CHECK(one_token(grpo, -20.0, 0.0, 1.0).second == 0.0);
  const double in = std::nextafter(20.0, 0.0);
  CHECK(one_token(grpo, 0.0, -in, -1.0).second == std::exp(in));

  // GSPO: two tokens with log-ratio 10 each (exact in binary), so m_i = 10 exactly.
  const std::vector<double> lp = {-0.5, -1.5}, old = {-10.5, -11.5}, adv = {-1.0};
  std::vector<double> g(2, 7.0);
  const hadw::gspo_objective gspo{};
  const auto r = hadw::policy_loss(
      gspo,
      hadw::policy_batch<double>{.logp = lp, .old_logp = old, .advantages = adv, .row_length = 2},
      std::span<double>(g));
  CHECK(r.ratio_max == std::exp(10.0));
  CHECK(r.loss == std::exp(10.0));
  CHECK(g[0] == 0.0);
  CHECK(g[1] == 0.0);
  // Just below 10 the gradient is verl's stand-in: w * (-A) * s with w = 1/2.
  const std::vector<double> lp2 = {-0.5 - 1e-9, -1.5};
  hadw::policy_loss(
      gspo,
      hadw::policy_batch<double>{.logp = lp2, .old_logp = old, .advantages = adv, .row_length = 2},
      std::span<double>(g));
  CHECK(g[0] == Approx(0.5 * std::exp(10.0 - 0.5e-9)).epsilon(1e-15));
}

TEST_CASE("float inputs: a ratio that rounds onto 1.2f is on the bound, as in a float32 tensor",
          "[objectives][policy_loss][boundary][precision]") {
  // Find float log-probabilities whose double ratio is off 1.2 but rounds to 1.2f.
  float lp = static_cast<float>(std::log(1.2));
  for (int k = 0;
       k < 64 && (static_cast<float>(std::exp(double(lp))) != 1.2f || std::exp(double(lp)) == 1.2);
       ++k)
    lp = std::nextafter(lp, 1.0f);
  const double r = std::exp(static_cast<double>(lp));
  REQUIRE(static_cast<float>(r) == 1.2f);
  REQUIRE(r != 1.2);
  const auto [res, g] = one_token(hadw::grpo_objective{}, lp, 0.0f, 1.0f);
  CHECK(g == static_cast<float>(-0.5 * r));
  CHECK(res.clip_fraction == 0.0);
  // The same values in double are strictly inside or outside the range: no tie there.
  const auto [res_d, g_d] = one_token(hadw::grpo_objective{}, double(lp), 0.0, 1.0);
  CHECK(g_d == (r < 1.2 ? -r : 0.0));
  CHECK(res_d.clip_fraction == (r < 1.2 ? 0.0 : 1.0));
  // A float log-ratio of 20 (from 25 - 5) is on the log-ratio clamp's bound.
  CHECK(one_token(hadw::grpo_objective{}, 25.0f, 5.0f, -1.0f).second == 0.0f);
}

TEST_CASE("the k3 diagnostic is verl's low_var_kl, clamped to [-10, 10] per token",
          "[objectives][policy_loss][diagnostics]") {
  // Log-ratios 2 (k3 = e^2 - 3, under the bound), 5 and -15 (over it), 25 (clamped to 20 first).
  const std::vector<double> d = {2.0, 5.0, -15.0, 25.0};
  std::vector<double> lp(d.size()), old(d.size(), -1.0), adv(d.size(), 0.5);
  for (std::size_t k = 0; k < d.size(); ++k) lp[k] = old[k] + d[k];
  const auto r = hadw::policy_loss(
      hadw::dapo_objective{},
      hadw::policy_batch<double>{.logp = lp, .old_logp = old, .advantages = adv, .row_length = 1});
  const double first = std::exp(2.0) - 1.0 - 2.0;
  CHECK(first < 10.0);
  CHECK(r.approx_kl_k3 == Approx((first + 10.0 + 10.0 + 10.0) / 4).epsilon(1e-15));
}

TEST_CASE("HA-DW weights scale each response's loss terms and gradient by Phi and clip nothing new",
          "[objectives][policy_loss][hadw]") {
  // Eq. 17: the objective sees Phi * A with Phi a constant > 0. Per row, every token term is
  // linear in A within its branch and the branch depends only on sign(A) and r.
  const auto b = token_data(5, 8, 10);
  std::vector<double> phi_adv(b.adv_row.size()), phi(b.adv_row.size());
  for (std::size_t i = 0; i < phi.size(); ++i) {
    const double difficulty = (i % 2 ? 0.3 : -0.4);  // two groups: an easy and a hard prompt
    phi[i] = hadw::phi(b.adv_row[i], difficulty, 1.5);
    phi_adv[i] = phi[i] * b.adv_row[i];
  }
  for (auto mode : all_modes) {
    const auto o = with_mode(hadw::dapo_objective{}, mode);
    std::vector<double> g_base, g_hadw;
    const auto base = run(o, b, b.logp, b.adv_row, validity::mask, g_base);
    const auto weighted = run(o, b, b.logp, phi_adv, validity::mask, g_hadw);
    CHECK(weighted.clip_fraction == base.clip_fraction);
    for (std::size_t k = 0; k < g_base.size(); ++k)
      CHECK(
          g_hadw[k] ==
          Approx(phi[k / static_cast<std::size_t>(b.L)] * g_base[k]).epsilon(1e-13).margin(1e-300));
  }
}

TEST_CASE("data-parallel ranks with global counts reproduce the whole batch's loss and gradient",
          "[objectives][policy_loss][data-parallel]") {
  const auto b = token_data(6, 10, 8);
  const std::int64_t split = 4;  // rank 0: rows [0, 4), rank 1: rows [4, 10)
  std::int64_t T = 0, S = 0;
  for (auto n : b.lengths) {
    T += n;
    S += n > 0;
  }
  const std::span<const double> lp(b.logp), old(b.old_logp), adv(b.adv_row);
  const std::span<const std::int64_t> len(b.lengths);
  const auto L = static_cast<std::size_t>(b.L);
  for (auto mode : all_modes) {
    INFO("mode " << hadw::loss_agg_name(mode));
    const auto whole = with_mode(hadw::grpo_objective{}, mode);
    auto rank = whole;
    rank.agg.global_tokens = T;
    rank.agg.global_sequences = S;
    rank.agg.dp_size = 2;
    std::vector<double> g_whole;
    const auto r_whole = run(whole, b, b.logp, b.adv_row, validity::lengths, g_whole);
    std::vector<double> g0(split * L), g1((b.N - split) * L);
    const auto r0 = hadw::policy_loss(rank,
                                      hadw::policy_batch<double>{.logp = lp.first(split * L),
                                                                 .old_logp = old.first(split * L),
                                                                 .advantages = adv.first(split),
                                                                 .lengths = len.first(split),
                                                                 .row_length = b.L},
                                      std::span<double>(g0));
    const auto r1 = hadw::policy_loss(rank,
                                      hadw::policy_batch<double>{.logp = lp.subspan(split * L),
                                                                 .old_logp = old.subspan(split * L),
                                                                 .advantages = adv.subspan(split),
                                                                 .lengths = len.subspan(split),
                                                                 .row_length = b.L},
                                      std::span<double>(g1));
    CHECK((r0.loss + r1.loss) / 2 == Approx(r_whole.loss).epsilon(1e-13));
    for (std::size_t k = 0; k < g0.size(); ++k)
      CHECK(g0[k] / 2 == Approx(g_whole[k]).epsilon(1e-13));
    for (std::size_t k = 0; k < g1.size(); ++k)
      CHECK(g1[k] / 2 == Approx(g_whole[split * L + k]).epsilon(1e-13));
  }
}

TEMPLATE_TEST_CASE("float and double inputs give the reference loss of the same values",
                   "[objectives][policy_loss][types]", float, double) {
  const auto b = token_data(7, 6, 9);
  std::vector<TestType> lp(b.logp.begin(), b.logp.end()), old(b.old_logp.begin(), b.old_logp.end()),
      adv(b.adv_row.begin(), b.adv_row.end());
  batch_data rounded = b;  // the reference sees exactly the values the code reads
  for (std::size_t k = 0; k < lp.size(); ++k) {
    rounded.logp[k] = static_cast<double>(lp[k]);
    rounded.old_logp[k] = static_cast<double>(old[k]);
  }
  std::vector<double> adv_d(adv.begin(), adv.end());
  rounded.adv_row = adv_d;
  std::vector<TestType> grad(lp.size());
  const auto o = hadw::dapo_objective{};
  const auto r = hadw::policy_loss(
      o,
      hadw::policy_batch<TestType>{
          .logp = lp, .old_logp = old, .advantages = adv, .mask = b.mask, .row_length = b.L},
      std::span<TestType>(grad));
  const auto ref = reference(rounded, rounded.logp, broadcast(rounded), config_of(o));
  CHECK(r.loss == Approx(ref.loss).epsilon(1e-12));
  CHECK(r.clip_fraction == Approx(ref.clipfrac));
}

TEST_CASE("masked tokens get exactly zero gradient and may hold garbage",
          "[objectives][policy_loss][mask]") {
  auto b = token_data(8, 5, 6);
  for (std::size_t k = 0; k < b.mask.size(); ++k)
    if (!b.mask[k]) {
      b.logp[k] = NAN;
      b.old_logp[k] = -INFINITY;
      b.adv_tok[k] = NAN;
    }
  std::vector<double> g;
  const auto r = run(hadw::grpo_objective{}, b, b.logp, b.adv_tok, validity::mask, g);
  CHECK(std::isfinite(r.loss));
  for (std::size_t k = 0; k < g.size(); ++k)
    if (!b.mask[k]) CHECK(g[k] == 0.0);
}

TEST_CASE("a batch with no valid token has loss 0, zero gradient and NaN ratio statistics",
          "[objectives][policy_loss][edge]") {
  const std::vector<double> lp = {-1, -2, -3, -4}, old = {-1, -1, -1, -1}, adv = {1, -1};
  const std::vector<std::int64_t> lengths = {0, 0};
  std::vector<double> g(4, 5.0);
  const auto r = hadw::policy_loss(
      hadw::grpo_objective{},
      hadw::policy_batch<double>{
          .logp = lp, .old_logp = old, .advantages = adv, .lengths = lengths, .row_length = 2},
      std::span<double>(g));
  CHECK(r.loss == 0.0);
  CHECK(r.tokens == 0);
  CHECK(r.sequences == 0);
  CHECK(std::isnan(r.ratio_mean));
  for (double x : g) CHECK(x == 0.0);

  const std::vector<double> none;
  const auto e =
      hadw::policy_loss(hadw::dapo_objective{},
                        hadw::policy_batch<double>{
                            .logp = none, .old_logp = none, .advantages = none, .row_length = 3});
  CHECK(e.loss == 0.0);
  CHECK(e.tokens == 0);
}

TEST_CASE("the same input gives a bit-identical loss and gradient", "[objectives][policy_loss]") {
  const auto b = sequence_data(9, 12, 16);
  std::vector<double> g1, g2;
  const auto r1 = run(hadw::gspo_objective{}, b, b.logp, b.adv_row, validity::mask, g1);
  const auto r2 = run(hadw::gspo_objective{}, b, b.logp, b.adv_row, validity::mask, g2);
  CHECK(r1.loss == r2.loss);
  CHECK(g1 == g2);
}

TEST_CASE("policy_loss rejects bad input naming the argument, before writing anything",
          "[objectives][policy_loss][errors]") {
  const auto b = token_data(10, 4, 5);
  std::vector<double> grad(b.logp.size(), 42.0);
  const auto call = [&](auto o, hadw::policy_batch<double> pb, std::span<double> g) {
    return hadw::policy_loss(o, pb, g);
  };
  const hadw::policy_batch<double> good{.logp = b.logp,
                                        .old_logp = b.old_logp,
                                        .advantages = b.adv_row,
                                        .mask = b.mask,
                                        .row_length = b.L};
  const std::span<double> g(grad);
  CHECK_NOTHROW(call(hadw::grpo_objective{}, good, std::span<double>{}));

  auto pb = good;
  pb.old_logp = std::span<const double>(b.old_logp).first(7);
  CHECK_THROWS_WITH(call(hadw::grpo_objective{}, pb, g), Catch::Contains("old_logp.size()"));
  pb = good;
  pb.advantages = std::span<const double>(b.adv_row).first(3);
  CHECK_THROWS_WITH(call(hadw::grpo_objective{}, pb, g), Catch::Contains("advantages.size()"));
  pb = good;
  pb.lengths = b.lengths;
  CHECK_THROWS_WITH(call(hadw::grpo_objective{}, pb, g), Catch::Contains("mask or lengths"));
  pb = good;
  pb.row_length = 3;
  CHECK_THROWS_WITH(call(hadw::grpo_objective{}, pb, g), Catch::Contains("row_length"));
  CHECK_THROWS_WITH(call(hadw::grpo_objective{}, good, g.first(5)), Catch::Contains("grad.size()"));

  CHECK_THROWS_WITH(call(hadw::dapo_objective{.clip = {.low = -0.2, .high = 0.28}}, good, g),
                    Catch::Contains("clip.low"));
  CHECK_THROWS_WITH(call(hadw::dapo_objective{.clip = {.low = 0.2, .high = -0.28}}, good, g),
                    Catch::Contains("clip.high"));
  CHECK_THROWS_WITH(call(hadw::grpo_objective{.dual_clip_c = 0.9}, good, g),
                    Catch::Contains("dual_clip_c"));
  CHECK_THROWS_WITH(
      call(hadw::grpo_objective{.agg = {.mode = loss_agg::seq_mean_token_sum_norm}}, good, g),
      Catch::Contains("aggregation.normaliser"));
  CHECK_THROWS_WITH(call(hadw::grpo_objective{.agg = {.global_tokens = 1}}, good, g),
                    Catch::Contains("aggregation.global_tokens"));

  std::vector<double> bad = b.logp;
  bad[0] = NAN;  // row 0 is full, so token 0 is valid
  pb = good;
  pb.logp = bad;
  CHECK_THROWS_WITH(call(hadw::grpo_objective{}, pb, g), Catch::Contains("logp[0] is nan"));
  bad = b.old_logp;
  bad[2] = INFINITY;
  pb = good;
  pb.old_logp = bad;
  CHECK_THROWS_WITH(call(hadw::grpo_objective{}, pb, g), Catch::Contains("old_logp[2]"));
  bad = b.adv_row;
  bad[0] = NAN;
  pb = good;
  pb.advantages = bad;
  CHECK_THROWS_WITH(call(hadw::grpo_objective{}, pb, g), Catch::Contains("advantages[0]"));

  for (double x : grad) CHECK(x == 42.0);  // nothing was written by any failed call
}
