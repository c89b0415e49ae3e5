// libFuzzer harness: the step pipeline on arbitrary shapes, options and float bit patterns:
// hadw::estimate (every named estimator, masks, lengths, NaN policy), hadw::reweight (every belief,
// timing, range, observation, warm-up), estimate_and_reweight, estimate_reweight_broadcast and
// both broadcast_to_tokens overloads, float and double.
//
// Properties checked on every input:
// - a call either returns or throws hadw::error (anything else aborts: a crash);
// - after hadw::error every output buffer and the anchor are bit-for-bit what they were (strong
//   exception guarantee);
// - after success the anchor holds a valid belief (prior in [0, 1]), masked responses are 0
//   (estimate) or untouched (reweight), every written advantage is finite, and the fused entry
//   points give bit for bit what estimate followed by reweight (and the broadcast) give.
#include "fuzz_input.hpp"

#include <hadw/hadw.hpp>

#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

namespace {

using hadw_fuzz::input;
using hadw_fuzz::same_bits;

double pick_eps(input& in, double usual) {
  switch (in.u8() % 4) {
    case 0: return usual;
    case 1: return 0.0;
    case 2: return in.raw_f64();
    default: return 1e-300;
  }
}

std::optional<hadw::group_layout> make_layout(input& in) {
  try {
    switch (in.u8() % 3) {
      case 0: return hadw::group_layout::uniform(1 + in.u8() % 6, 1 + in.u8() % 8);
      case 1: {
        std::vector<std::int64_t> off{0};
        const int groups = 1 + in.u8() % 6;
        for (int k = 0; k < groups; ++k) off.push_back(off.back() + in.u8() % 8);
        return hadw::group_layout::from_offsets(off);
      }
      default: {
        std::vector<int> ids(in.u8() % 40);
        const int distinct = 1 + in.u8() % 6;
        for (int& id : ids) id = in.u8() % distinct;
        return hadw::group_layout::from_ids(ids);
      }
    }
  } catch (const hadw::error&) {
    return std::nullopt;
  }
}

template <class Belief>
std::optional<hadw::difficulty_anchor<Belief>> make_anchor(input& in);

template <>
std::optional<hadw::difficulty_anchor<hadw::kalman_belief>> make_anchor(input& in) {
  hadw::kalman_belief::config c;
  if (in.flag()) c.eta = in.flag() ? in.raw_f64() : in.u8() / 255.0;
  if (in.flag()) c.window = in.flag() ? in.i64() : 1 + in.u8() % 12;
  if (in.flag()) c.initial_belief = in.flag() ? in.raw_f64() : in.u8() / 255.0;
  if (in.flag()) c.warmup_sigma = in.flag() ? in.raw_f64() : in.u8() / 64.0;
  c.initialise_from_first_observation = in.flag();
  try {
    return hadw::difficulty_anchor<hadw::kalman_belief>(c);
  } catch (const hadw::error&) {
    return std::nullopt;
  }
}
template <>
std::optional<hadw::difficulty_anchor<hadw::window_mean_belief>> make_anchor(input& in) {
  hadw::window_mean_belief::config c;
  if (in.flag()) c.window = in.flag() ? in.i64() : 1 + in.u8() % 12;
  if (in.flag()) c.initial_belief = in.flag() ? in.raw_f64() : in.u8() / 255.0;
  try {
    return hadw::difficulty_anchor<hadw::window_mean_belief>(c);
  } catch (const hadw::error&) {
    return std::nullopt;
  }
}
template <>
std::optional<hadw::difficulty_anchor<hadw::fixed_belief>> make_anchor(input& in) {
  hadw::fixed_belief::config c;
  if (in.flag()) c.belief = in.flag() ? in.raw_f64() : in.u8() / 255.0;
  try {
    return hadw::difficulty_anchor<hadw::fixed_belief>(c);
  } catch (const hadw::error&) {
    return std::nullopt;
  }
}

hadw::reweight_options make_reweight_options(input& in) {
  hadw::reweight_options o;
  switch (in.u8() % 4) {
    case 0: break;
    case 1: o.lambda_scale = 1.3; break;
    case 2: o.lambda_scale = in.raw_f64(); break;
    default: o.lambda_scale = in.u8() / 16.0; break;
  }
  o.update_anchor = !in.flag();
  o.timing = in.flag() ? hadw::anchor_timing::posterior : hadw::anchor_timing::prior;
  switch (in.u8() % 4) {
    case 0: break;
    case 1: o.range = {-1.0, 1.0}; break;
    case 2: o.range = {in.raw_f64(), in.raw_f64()}; break;
    default: o.range = {-3.0, 3.0}; break;
  }
  o.observation = in.flag() ? hadw::observation_kind::success_rate
                            : hadw::observation_kind::mean_reward;
  if (in.flag()) o.success_threshold = in.flag() ? in.raw_f64() : in.u8() / 255.0;
  o.warmup_steps = in.flag() ? in.i64() : in.u8() % 3;
  o.nan = in.flag() ? hadw::nan_policy::unscorable : hadw::nan_policy::reject;
  return o;
}

/// Runs `call` and checks the strong exception guarantee on `outputs` and `anchor`.
template <class Anchor, class Call, class... Out>
bool run_checked(Call&& call, Anchor& anchor, std::vector<Out>&... outputs) {
  const auto anchor_before = anchor.save();
  const auto before = std::make_tuple(outputs...);
  try {
    call();
    return true;
  } catch (const hadw::error&) {
    FUZZ_CHECK(anchor.save() == anchor_before);
    std::apply(
        [&](const auto&... old) {
          (FUZZ_CHECK(same_bits(std::span<const Out>(outputs), std::span<const Out>(old))), ...);
        },
        before);
    return false;
  }
}

template <class Anchor>
void check_anchor(const Anchor& a) {
  FUZZ_CHECK(std::isfinite(a.prior()) && a.prior() >= 0.0 && a.prior() <= 1.0);
  FUZZ_CHECK(std::isfinite(a.eta()) && a.eta() >= 0.0 && a.eta() <= 1.0);
  FUZZ_CHECK(Anchor::load(a.save()) == a);
}

/// HADW_FUZZ_TRACE=1 in the environment prints each case (for reading a crash input).
template <class T>
void trace(const char* what, std::span<const T> v) {
  static const bool on = std::getenv("HADW_FUZZ_TRACE") != nullptr;
  if (!on) return;
  std::fprintf(stderr, "%s:", what);
  for (T x : v) std::fprintf(stderr, " %.17g", static_cast<double>(x));
  std::fprintf(stderr, "\n");
}

template <class T>
bool all_finite(std::span<const T> v) {
  for (T x : v)
    if (!std::isfinite(static_cast<double>(x))) return false;
  return true;
}

template <class E, class T, class Belief>
void run_case(const E& est, input& in, const hadw::group_layout& layout) {
  if (std::getenv("HADW_FUZZ_TRACE"))
    std::fprintf(stderr, "%s, %zu-byte rewards, %lld groups\n", __PRETTY_FUNCTION__, sizeof(T),
                 static_cast<long long>(layout.num_groups()));
  auto anchor0 = make_anchor<Belief>(in);
  if (!anchor0) return;
  const auto n = static_cast<std::size_t>(layout.num_responses());
  // Sizes are right most of the time; sometimes off by one to exercise the size checks.
  const auto size_of = [&](std::size_t want) {
    const std::uint8_t t = in.u8();
    return t < 240 ? want : (t & 1 ? want + 1 : (want ? want - 1 : 0));
  };
  std::vector<T> rewards(size_of(n));
  for (T& r : rewards) r = in.number<T>();
  std::vector<std::uint8_t> mask;
  if (in.flag()) {
    mask.resize(size_of(n));
    for (auto& m : mask) m = in.u8() < 200 ? 1 : in.u8() % 3;
  }
  std::vector<std::int64_t> lengths;
  if (in.flag()) {
    lengths.resize(size_of(n));
    for (auto& len : lengths) len = in.u8() < 240 ? in.u8() % 9 : in.i64();
  }
  const hadw::reweight_options ropt = [&] {
    auto o = make_reweight_options(in);
    o.mask = mask;
    return o;
  }();
  const hadw::estimate_options eopt{.mask = mask, .lengths = lengths, .nan = ropt.nan};
  const std::int64_t L = 1 + in.u8() % 4;
  std::vector<std::uint8_t> token_mask(size_of(n * static_cast<std::size_t>(L)));
  for (auto& m : token_mask) m = in.u8() & 1;
  const auto valid = [&](std::size_t i) { return mask.empty() || mask[i] != 0; };
  const std::span<const T> rew(rewards);

  for (int step = 0, steps = 1 + in.u8() % 3; step < steps; ++step) {
    // 1. estimate alone.
    std::vector<T> adv(size_of(n), T(7));
    auto anchor_a = *anchor0;
    const bool est_ok = run_checked([&] { hadw::estimate(est, layout, rew, std::span<T>(adv), eopt); },
                                    anchor_a, adv);
    trace("rewards", rew);
    trace("mask", std::span<const std::uint8_t>(mask));
    trace("lengths", std::span<const std::int64_t>(lengths));
    trace(est_ok ? "advantages" : "estimate rejected", std::span<const T>(adv));
    if (est_ok) {
      for (std::size_t i = 0; i < adv.size(); ++i)
        if (!valid(i)) FUZZ_CHECK(adv[i] == T(0));
      FUZZ_CHECK(all_finite(std::span<const T>(adv)));  // finite rewards -> finite advantages
    } else {
      for (T& a : adv) a = in.number<T>();  // reweight then sees arbitrary advantages
    }

    // 2. reweight on estimate's output (or on arbitrary advantages).
    bool rw_ok = false;
    if (adv.size() == n && rewards.size() == n) {
      const std::vector<T> adv_in = adv;
      rw_ok = run_checked(
          [&] {
            hadw::reweight(hadw::grouped(std::span<T>(adv), layout), hadw::grouped(rew, layout),
                           anchor_a, ropt);
          },
          anchor_a, adv);
      if (rw_ok) {
        check_anchor(anchor_a);
        for (std::size_t i = 0; i < n; ++i) {
          const bool weighted = valid(i) && !std::isnan(static_cast<double>(rewards[i]));
          if (weighted)  // every advantage reweight writes is finite
            FUZZ_CHECK(std::isfinite(static_cast<double>(adv[i])));
          else  // masked and unscorable responses are neither read nor written
            FUZZ_CHECK(same_bits(std::span<const T>(&adv[i], 1), std::span<const T>(&adv_in[i], 1)));
        }
      }
    }

    // 3. the fused entry point equals 1 then 2, or rejects whenever either would.
    std::vector<T> fused(adv.size(), T(-3));
    auto anchor_f = *anchor0;
    const bool fused_ok = run_checked(
        [&] {
          hadw::estimate_and_reweight(est, layout, rew, std::span<T>(fused), anchor_f, ropt,
                                      std::span<const std::int64_t>(lengths));
        },
        anchor_f, fused);
    FUZZ_CHECK(fused_ok == (est_ok && rw_ok));
    if (fused_ok) {
      FUZZ_CHECK(same_bits(std::span<const T>(fused), std::span<const T>(adv)));
      FUZZ_CHECK(anchor_f == anchor_a);
    }

    // 4. ... and with the token broadcast.
    std::vector<T> fused_tok(fused.size(), T(-5));
    std::vector<float> tokens(size_of(fused.size() * static_cast<std::size_t>(L)), 9.0f);
    auto anchor_t = *anchor0;
    const bool tok_ok = run_checked(
        [&] {
          hadw::estimate_reweight_broadcast(est, layout, rew, std::span<T>(fused_tok), anchor_t,
                                            std::span<const std::uint8_t>(token_mask), L,
                                            std::span<float>(tokens), ropt,
                                            std::span<const std::int64_t>(lengths));
        },
        anchor_t, fused_tok, tokens);
    if (tok_ok) {
      FUZZ_CHECK(fused_ok);
      FUZZ_CHECK(same_bits(std::span<const T>(fused_tok), std::span<const T>(adv)));
      FUZZ_CHECK(anchor_t == anchor_a);
      for (std::size_t i = 0; i < tokens.size(); ++i) {
        const auto row = i / static_cast<std::size_t>(L);
        const float want = token_mask[i] ? static_cast<float>(adv[row]) : 0.0f;
        FUZZ_CHECK(same_bits(std::span<const float>(&tokens[i], 1), std::span<const float>(&want, 1)));
      }
    } else if (fused_ok) {
      // Only the token shapes may differ.
      FUZZ_CHECK(token_mask.size() != tokens.size() ||
                 tokens.size() != fused_tok.size() * static_cast<std::size_t>(L));
    }

    // 5. broadcast with per-row lengths of a wide unsigned type (values past int64 included).
    std::vector<std::uint64_t> rows(size_of(adv.size()));
    for (auto& r : rows) r = in.u8() < 240 ? in.u8() % 6 : in.u64();
    std::vector<double> tok2(adv.size() * static_cast<std::size_t>(L), -1.0);
    const bool rows_ok = run_checked(
        [&] {
          hadw::broadcast_to_tokens(std::span<const T>(adv), std::span<const std::uint64_t>(rows),
                                    L, std::span<double>(tok2));
        },
        anchor_t, tok2);
    if (rows_ok)
      for (std::size_t i = 0; i < tok2.size(); ++i) {
        const auto row = i / static_cast<std::size_t>(L), t = i % static_cast<std::size_t>(L);
        // Bits, not ==: a rejected estimate leaves arbitrary advantages (NaN among them),
        // which the broadcast copies as they are.
        const double want = t < rows[row] ? static_cast<double>(adv[row]) : 0.0;
        FUZZ_CHECK(same_bits(std::span<const double>(&tok2[i], 1), std::span<const double>(&want, 1)));
      }

    if (rw_ok) *anchor0 = anchor_a;  // carry the anchor into the next step
  }
}

template <class T, class Belief>
void dispatch_estimator(input& in, const hadw::group_layout& layout) {
  const auto single = static_cast<hadw::singleton_rule>(in.u8() % 3);
  const bool unbiased = in.flag();
  const auto eps_at = in.flag() ? hadw::eps_placement::add_to_var : hadw::eps_placement::add_to_std;
  switch (in.u8() % 12) {
    case 0:
      return run_case<hadw::grpo, T, Belief>(
          {.eps = pick_eps(in, 1e-6), .unbiased = unbiased, .eps_at = eps_at, .singleton = single},
          in, layout);
    case 1: return run_case<hadw::dr_grpo, T, Belief>({.singleton = single}, in, layout);
    case 2:
      return run_case<hadw::grpo_batch_std, T, Belief>({.eps = pick_eps(in, 1e-4),
                                                        .unbiased = unbiased,
                                                        .centred = in.flag(),
                                                        .eps_at = eps_at,
                                                        .singleton = single},
                                                       in, layout);
    case 3: return run_case<hadw::rloo, T, Belief>({.singleton = single}, in, layout);
    case 4:
      return run_case<hadw::reinforce_pp_baseline, T, Belief>(
          {.eps = pick_eps(in, 1e-8), .unbiased = unbiased, .singleton = single}, in, layout);
    case 5: return run_case<hadw::opo, T, Belief>({.singleton = single}, in, layout);
    case 6: {
      const double f = in.flag() ? in.raw_f64() : 1.0 + in.u8() / 16.0;
      return run_case<hadw::gpg, T, Belief>({.f_norm = f, .singleton = single}, in, layout);
    }
    case 7:
      return run_case<hadw::grpo_passk, T, Belief>({.eps = pick_eps(in, 1e-6),
                                                    .unbiased = unbiased,
                                                    .normalise = in.flag(),
                                                    .singleton = single},
                                                   in, layout);
    case 8: return run_case<hadw::grpo, T, Belief>(hadw::compat::verl::grpo, in, layout);
    case 9: return run_case<hadw::grpo_batch_std, T, Belief>(hadw::compat::trl::grpo_batch, in, layout);
    case 10:
      return run_case<hadw::reinforce_pp_baseline, T, Belief>(
          hadw::compat::openrlhf::reinforce_pp_baseline, in, layout);
    default: return run_case<hadw::gpg, T, Belief>(hadw::compat::verl::gpg, in, layout);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  input in(data, size);
  const std::uint8_t what = in.u8();
  const auto layout = make_layout(in);
  if (!layout) return 0;
  switch (what % 6) {
    case 0: dispatch_estimator<float, hadw::kalman_belief>(in, *layout); break;
    case 1: dispatch_estimator<double, hadw::kalman_belief>(in, *layout); break;
    case 2: dispatch_estimator<float, hadw::window_mean_belief>(in, *layout); break;
    case 3: dispatch_estimator<double, hadw::window_mean_belief>(in, *layout); break;
    case 4: dispatch_estimator<float, hadw::fixed_belief>(in, *layout); break;
    default: dispatch_estimator<double, hadw::fixed_belief>(in, *layout); break;
  }
  return 0;
}
