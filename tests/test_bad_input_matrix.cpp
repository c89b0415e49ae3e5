// The input contract of every public entry point (docs/errors.md), as tables.
//
// Rejected inputs: one row per rule of the contract. Each row runs one call on a shared "world"
// (the outputs, the anchor, the buffers a call may write) and asserts that it throws exactly
// hadw::error (a std::invalid_argument), that the message names the argument, and that every
// byte of the world is what it was before (the strong exception guarantee).
//
// Accepted inputs: the treatment the contract promises (NaN as unscorable, all-masked groups,
// size-1 rules, ids in mixed order, a huge group, an empty token batch), each checked against a
// value worked out in the test, not against the library's own output.
#include <hadw/hadw.hpp>
#include <hadw/objectives.hpp>

#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace {

constexpr double inf = std::numeric_limits<double>::infinity();
constexpr double qnan = std::numeric_limits<double>::quiet_NaN();
constexpr std::int64_t L = 4;  // tokens per row

/// Everything a call may write, plus valid inputs to start each bad case from.
struct world {
  hadw::group_layout layout = hadw::group_layout::uniform(3, 4);
  std::vector<float> rewards{1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1};
  std::vector<std::uint8_t> mask = std::vector<std::uint8_t>(12, 1);
  std::vector<std::int64_t> lengths = std::vector<std::int64_t>(12, 3);
  std::vector<std::uint8_t> token_mask = std::vector<std::uint8_t>(12 * L, 1);

  // Outputs (sentinel values a successful call would overwrite).
  std::vector<float> adv = std::vector<float>(12, 7.0f);
  std::vector<float> tokens = std::vector<float>(12 * L, 9.0f);
  std::vector<double> grad = std::vector<double>(12 * L, 5.0);
  std::vector<std::uint8_t> keep = std::vector<std::uint8_t>(12, 2);
  std::vector<std::uint8_t> keep_group = std::vector<std::uint8_t>(3, 2);
  std::vector<double> shaped = std::vector<double>(12, 0.5);  // apply_overlong_penalty's rewards
  /// 13 floats for buffers that overlap: rewards = shared[0:12], advantages = shared[1:13].
  std::vector<float> shared{1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 0};
  hadw::difficulty_anchor<> anchor;
  hadw::difficulty_anchor<hadw::window_mean_belief> window_anchor;
  hadw::difficulty_anchor<hadw::fixed_belief> fixed_anchor;

  // Objective inputs, N = 12 rows of L tokens.
  std::vector<double> logp = std::vector<double>(12 * L, -1.0);
  std::vector<double> old_logp = std::vector<double>(12 * L, -1.1);
  std::vector<double> token_adv = std::vector<double>(12, 0.5);

  world() {
    anchor.observe(0.25);
    anchor.observe(0.5);
    window_anchor.observe(0.75);
  }

  std::span<const float> r() const { return rewards; }
  std::span<float> a() { return adv; }
  hadw::estimate_options eopt() const { return {}; }

  /// The bytes of every output and of all three anchors.
  [[nodiscard]] std::vector<std::uint8_t> state() const {
    std::vector<std::uint8_t> s;
    const auto add = [&](const auto& v) {
      const auto* p = reinterpret_cast<const std::uint8_t*>(v.data());
      s.insert(s.end(), p, p + v.size() * sizeof(v[0]));
    };
    add(adv);
    add(tokens);
    add(grad);
    add(keep);
    add(keep_group);
    add(shaped);
    add(shared);
    add(anchor.save());
    add(window_anchor.save());
    add(fixed_anchor.save());
    return s;
  }
};

struct bad_case {
  const char* entry;   ///< the entry point
  const char* what;    ///< the rule of the contract
  const char* needle;  ///< what the message must contain: the argument's name
  std::function<void(world&)> call;
  std::function<void(world&)> prepare = {};  ///< input set-up that may touch outputs (before the snapshot)
};

/// Throws exactly hadw::error naming the argument, and leaves the world as it was.
void check_rejected(const bad_case& c) {
  INFO(c.entry << ": " << c.what);
  world w;
  if (c.prepare) c.prepare(w);
  const auto before = w.state();
  bool threw = false;
  try {
    c.call(w);
  } catch (const hadw::error& e) {
    threw = true;
    INFO("message: " << e.what());
    CHECK_THAT(std::string(e.what()), Catch::Contains(c.needle));
    const std::invalid_argument& base = e;  // hadw::error is-an invalid_argument
    CHECK(std::string(base.what()) == e.what());
  } catch (const std::exception& e) {
    FAIL("threw a non-hadw exception: " << e.what());
  }
  CHECK(threw);
  const bool world_unchanged = w.state() == before;  // strong exception guarantee
  CHECK(world_unchanged);
}

void run_table(const std::vector<bad_case>& table) {
  for (const auto& c : table) check_rejected(c);
}

// A valid anchor as bytes, and the same bytes with a mutation and a recomputed size/checksum
// (so that load() reaches the payload check the row is about).
std::vector<std::uint8_t> resealed(std::vector<std::uint8_t> bytes) {
  const std::size_t body = bytes.size() - 8;
  const auto payload = static_cast<std::uint32_t>(body - 12);
  for (int i = 0; i < 4; ++i) bytes[8 + i] = static_cast<std::uint8_t>(payload >> (8 * i));
  const std::uint64_t h =
      hadw::detail::fnv1a64(std::span<const std::uint8_t>(bytes).first(body));
  for (int i = 0; i < 8; ++i) bytes[body + i] = static_cast<std::uint8_t>(h >> (8 * i));
  return bytes;
}
void put_f64(std::vector<std::uint8_t>& b, std::size_t at, double v) {
  std::uint64_t u;
  std::memcpy(&u, &v, 8);
  for (int i = 0; i < 8; ++i) b[at + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(u >> (8 * i));
}
void put_u64(std::vector<std::uint8_t>& b, std::size_t at, std::uint64_t u) {
  for (int i = 0; i < 8; ++i) b[at + static_cast<std::size_t>(i)] = static_cast<std::uint8_t>(u >> (8 * i));
}
// kalman_belief payload layout (beliefs.hpp save_state): eta f64 @12, window i64 @20,
// initial_belief f64 @28, warmup_sigma f64 @36, flag u8 @44, belief f64 @45, eta_ f64 @53,
// history size u64 @61, history values @69..., then step i64 and last_observation f64.
constexpr std::size_t at_window = 20, at_flag = 44, at_belief = 45, at_eta = 53, at_hist = 61,
                      at_hist0 = 69;

template <class Belief = hadw::kalman_belief>
void load_into(world& w, const std::vector<std::uint8_t>& bytes) {
  if constexpr (std::is_same_v<Belief, hadw::kalman_belief>)
    w.anchor = hadw::difficulty_anchor<>::load(bytes);
  else if constexpr (std::is_same_v<Belief, hadw::window_mean_belief>)
    w.window_anchor = hadw::difficulty_anchor<hadw::window_mean_belief>::load(bytes);
  else
    w.fixed_anchor = hadw::difficulty_anchor<hadw::fixed_belief>::load(bytes);
}

std::vector<std::uint8_t> kalman_bytes() {
  hadw::difficulty_anchor<> a;
  a.observe(0.25);
  a.observe(0.5);
  return a.save();
}

}  // namespace

// -------------------------------------------------------------------------------------------
// Rejected inputs

TEST_CASE("group_layout rejects bad shapes, naming the argument", "[matrix][layout]") {
  using L_ = hadw::group_layout;
  run_table({
      {"uniform", "no groups (empty batch)", "num_groups", [](world&) { (void)L_::uniform(0, 4); }},
      {"uniform", "negative group count", "num_groups", [](world&) { (void)L_::uniform(-1, 4); }},
      {"uniform", "empty groups", "group_size", [](world&) { (void)L_::uniform(3, 0); }},
      {"uniform", "negative group size", "group_size", [](world&) { (void)L_::uniform(3, -2); }},
      {"uniform", "B * G overflows int64", "num_groups * group_size",
       [](world&) {
         volatile std::int64_t big = std::int64_t{1} << 32;  // opaque: no constant folding
         (void)L_::uniform(big, big);
       }},
      {"from_offsets", "fewer than two offsets", "offsets.size()",
       [](world&) { (void)L_::from_offsets(std::vector<int>{0}); }},
      {"from_offsets", "no offsets at all", "offsets.size()",
       [](world&) { (void)L_::from_offsets(std::vector<int>{}); }},
      {"from_offsets", "offsets[0] != 0", "offsets[0]",
       [](world&) { (void)L_::from_offsets(std::vector<int>{1, 3}); }},
      {"from_offsets", "a size-0 group (repeated offset)", "offsets",
       [](world&) { (void)L_::from_offsets(std::vector<int>{0, 2, 2, 4}); }},
      {"from_offsets", "decreasing offsets", "offsets",
       [](world&) { (void)L_::from_offsets(std::vector<std::int64_t>{0, 4, 3}); }},
      {"from_offsets", "unsigned offset past INT64_MAX (regression: wrapped negative)",
       "offsets[1]",
       [](world&) {
         (void)L_::from_offsets(std::vector<std::uint64_t>{0, std::uint64_t{1} << 63});
       }},
      {"from_offsets", "8-bit offsets print as numbers", "got 7",
       [](world&) { (void)L_::from_offsets(std::vector<std::uint8_t>{7, 9}); }},
      {"from_offsets", "int8 offsets print as numbers (regression: a raw byte)",
       "offsets[1] = -3",
       [](world&) { (void)L_::from_offsets(std::vector<std::int8_t>{0, -3}); }},
      {"from_ids", "no ids (empty batch)", "ids",
       [](world&) { (void)L_::from_ids(std::vector<int>{}); }},
      {"grouped", "values of the wrong size", "values.size()",
       [](world& w) { (void)hadw::grouped(std::span<float>(w.adv).first(11), w.layout); }},
  });
}

TEST_CASE("hadw::estimate rejects bad rewards, options and shapes before writing",
          "[matrix][estimate]") {
  const auto est = [](world& w, auto e, hadw::estimate_options o = {}) {
    hadw::estimate(e, w.layout, w.r(), w.a(), o);
  };
  run_table({
      {"estimate", "rewards shorter than the layout", "rewards.size()",
       [](world& w) {
         hadw::estimate(hadw::grpo{}, w.layout, w.r().first(11), w.a());
       }},
      {"estimate", "advantages shorter than rewards", "advantages.size()",
       [](world& w) {
         hadw::estimate(hadw::grpo{}, w.layout, w.r(), w.a().first(11));
       }},
      {"estimate", "advantages overlapping rewards one element on (regression: wrong values)",
       "advantages and rewards overlap",
       [](world& w) {
         const std::span<float> buf(w.shared);
         hadw::estimate(hadw::grpo{}, w.layout, std::span<const float>(buf.first(12)),
                        buf.subspan(1));
       }},
      {"estimate", "advantages overlapping the rewards' first half", "advantages and rewards",
       [](world& w) {
         const std::span<float> buf(w.shared);
         hadw::estimate(hadw::grpo{}, w.layout, std::span<const float>(buf.subspan(1)),
                        buf.first(12));
       }},
      {"estimate", "the same bytes as another element type (double over float pairs)",
       "advantages and rewards",
       [](world& w) {
         // 6 doubles over the bytes of 12 floats: not element for element, so not in place.
         const auto l = hadw::group_layout::uniform(3, 2);
         const std::span<const float> r(w.shared.data(), 6);
         const std::span<double> a(reinterpret_cast<double*>(w.shared.data()), 6);
         hadw::estimate(hadw::grpo{}, l, r, a);
       }},
      {"estimate", "mask of the wrong size", "mask.size()",
       [&](world& w) { est(w, hadw::grpo{}, {.mask = std::span(w.mask).first(5)}); }},
      {"estimate", "lengths of the wrong size", "lengths.size()",
       [&](world& w) { est(w, hadw::opo{}, {.lengths = std::span(w.lengths).first(5)}); }},
      {"estimate", "a negative length", "lengths[4]",
       [&](world& w) {
         w.lengths[4] = -1;
         est(w, hadw::opo{}, {.lengths = w.lengths});
       }},
      {"estimate", "OPO without lengths", "lengths",
       [&](world& w) { est(w, hadw::opo{}); }},
      {"estimate", "NaN reward under nan_policy::reject", "rewards[5]",
       [&](world& w) {
         w.rewards[5] = NAN;
         est(w, hadw::grpo{});
       }},
      {"estimate", "+Inf reward (rejected under either NaN policy)", "rewards[2]",
       [&](world& w) {
         w.rewards[2] = INFINITY;
         est(w, hadw::grpo{}, {.nan = hadw::nan_policy::unscorable});
       }},
      {"estimate", "-Inf reward", "rewards[9]",
       [&](world& w) {
         w.rewards[9] = -INFINITY;
         est(w, hadw::dr_grpo{});
       }},
      {"estimate", "|reward| past max_abs_reward (regression: float rewards near FLT_MAX gave -Inf)",
       "rewards[3]",
       [&](world& w) {
         w.rewards[3] = -1.8e38f;
         est(w, hadw::gpg{});
       }},
      {"estimate", "a reward of 1e16", "max_abs_reward",
       [&](world& w) {
         w.rewards[0] = 1e16f;
         est(w, hadw::rloo{});
       }},
      {"estimate", "a size-1 group under singleton_rule::reject", "group 1",
       [](world& w) {
         const auto l = hadw::group_layout::from_offsets(std::vector<int>{0, 4, 5, 12});
         hadw::estimate(hadw::grpo{}, l, w.r(), w.a());
       }},
      {"estimate", "a group masked down to one valid response", "group 0",
       [&](world& w) {
         w.mask[0] = w.mask[1] = w.mask[2] = 0;
         est(w, hadw::rloo{}, {.mask = w.mask});
       }},
      {"estimate", "a group left with one scorable response", "group 2",
       [&](world& w) {
         w.rewards[8] = w.rewards[9] = w.rewards[10] = NAN;
         est(w, hadw::grpo{}, {.nan = hadw::nan_policy::unscorable});
       }},
      {"estimate", "grpo eps < 0", "eps", [&](world& w) { est(w, hadw::grpo{.eps = -1e-6}); }},
      {"estimate", "grpo eps NaN", "eps", [&](world& w) { est(w, hadw::grpo{.eps = qnan}); }},
      {"estimate", "grpo eps Inf", "eps", [&](world& w) { est(w, hadw::grpo{.eps = inf}); }},
      {"estimate", "reinforce_pp_baseline eps in (0, 1e-12) (regression: zero-weight batch gave 1e150)",
       "eps", [&](world& w) { est(w, hadw::reinforce_pp_baseline{.eps = 1e-300}); }},
      {"estimate", "grpo_batch_std eps < 0", "eps",
       [&](world& w) { est(w, hadw::grpo_batch_std{.eps = -1.0}); }},
      {"estimate", "reinforce_pp_baseline eps NaN", "eps",
       [&](world& w) { est(w, hadw::reinforce_pp_baseline{.eps = qnan}); }},
      {"estimate", "grpo_passk eps < 0", "eps",
       [&](world& w) { est(w, hadw::grpo_passk{.eps = -1.0}); }},
      {"estimate", "gpg f_norm 0", "f_norm", [&](world& w) { est(w, hadw::gpg{.f_norm = 0}); }},
      {"estimate", "gpg f_norm NaN", "f_norm", [&](world& w) { est(w, hadw::gpg{.f_norm = qnan}); }},
      {"estimate", "gpg f_norm below 1e-6 (regression: advantages past float range)", "f_norm",
       [&](world& w) { est(w, hadw::gpg{.f_norm = 1e-300}); }},
  });
}

TEST_CASE("broadcast_to_tokens rejects bad shapes, masks and lengths before writing",
          "[matrix][tokens]") {
  const auto by_mask = [](world&, std::span<const float> a, std::span<const std::uint8_t> m,
                          std::int64_t l, std::span<float> out) {
    hadw::broadcast_to_tokens(a, m, l, out);
  };
  run_table({
      {"broadcast_to_tokens(mask)", "L = 0", "L",
       [&](world& w) { by_mask(w, w.adv, w.token_mask, 0, w.tokens); }},
      {"broadcast_to_tokens(mask)", "L < 0", "L",
       [&](world& w) { by_mask(w, w.adv, w.token_mask, -4, w.tokens); }},
      {"broadcast_to_tokens(mask)", "token buffer not N * L", "token_advantages.size()",
       [&](world& w) {
         by_mask(w, w.adv, std::span(w.token_mask).first(47), L, std::span(w.tokens).first(47));
       }},
      {"broadcast_to_tokens(mask)", "mask not N * L", "mask.size()",
       [&](world& w) { by_mask(w, w.adv, std::span(w.token_mask).first(40), L, w.tokens); }},
      {"broadcast_to_tokens(mask)", "bool mask of the wrong size", "mask.size()",
       [](world& w) {
         std::vector<char> storage(5, 1);
         const bool b[5] = {true, true, true, true, true};
         hadw::broadcast_to_tokens(std::span<const float>(w.adv), std::span<const bool>(b), L,
                                   std::span<float>(w.tokens));
       }},
      {"broadcast_to_tokens(lengths)", "lengths of the wrong size", "lengths.size()",
       [](world& w) {
         hadw::broadcast_to_tokens(std::span<const float>(w.adv),
                                   std::span<const std::int64_t>(w.lengths).first(3), L,
                                   std::span<float>(w.tokens));
       }},
      {"broadcast_to_tokens(lengths)", "a negative length", "lengths[2]",
       [](world& w) {
         w.lengths[2] = -1;
         hadw::broadcast_to_tokens(std::span<const float>(w.adv),
                                   std::span<const std::int64_t>(w.lengths), L,
                                   std::span<float>(w.tokens));
       }},
      {"broadcast_to_tokens(lengths)", "a length past L", "lengths[7]",
       [](world& w) {
         std::vector<int> len(12, 2);
         len[7] = L + 1;
         hadw::broadcast_to_tokens(std::span<const float>(w.adv), std::span<const int>(len), L,
                                   std::span<float>(w.tokens));
       }},
      {"broadcast_to_tokens(lengths)",
       "an unsigned length past INT64_MAX (regression: wrapped negative, wrote out of bounds)",
       "lengths[3]",
       [](world& w) {
         std::vector<std::uint64_t> len(12, 2);
         len[3] = ~std::uint64_t{0};
         hadw::broadcast_to_tokens(std::span<const float>(w.adv),
                                   std::span<const std::uint64_t>(len), L,
                                   std::span<float>(w.tokens));
       }},
      {"broadcast_to_tokens(lengths)", "int8 lengths print as numbers (regression: raw bytes)",
       "got -3 with L = 4",
       [](world& w) {
         std::vector<std::int8_t> len(12, 2);
         len[5] = -3;
         hadw::broadcast_to_tokens(std::span<const float>(w.adv),
                                   std::span<const std::int8_t>(len), L,
                                   std::span<float>(w.tokens));
       }},
      {"broadcast_to_tokens(mask)", "token_advantages overlapping advantages",
       "token_advantages and advantages overlap",
       [](world& w) {
         // advantages = tokens[0:12], token rows [12, 4] over the same memory.
         hadw::broadcast_to_tokens(std::span<const float>(w.tokens).first(12),
                                   std::span<const std::uint8_t>(w.token_mask), L,
                                   std::span<float>(w.tokens));
       }},
      {"broadcast_to_tokens(lengths)", "L = 0", "L",
       [](world& w) {
         hadw::broadcast_to_tokens(std::span<const float>(w.adv),
                                   std::span<const std::int64_t>(w.lengths), 0,
                                   std::span<float>(w.tokens));
       }},
  });
}

TEST_CASE("difficulty_anchor rejects bad configs and observations, naming the field",
          "[matrix][anchor]") {
  using K = hadw::kalman_belief;
  using W = hadw::window_mean_belief;
  using F = hadw::fixed_belief;
  run_table({
      {"kalman_belief::config", "eta > 1", "eta",
       [](world&) { (void)hadw::difficulty_anchor<K>(K::config{.eta = 1.5}); }},
      {"kalman_belief::config", "eta NaN", "eta",
       [](world&) { (void)hadw::difficulty_anchor<K>(K::config{.eta = qnan}); }},
      {"kalman_belief::config", "window 0", "window",
       [](world&) { (void)hadw::difficulty_anchor<K>(K::config{.window = 0}); }},
      {"kalman_belief::config", "window past 2^20", "window",
       [](world&) { (void)hadw::difficulty_anchor<K>(K::config{.window = (1 << 20) + 1}); }},
      {"kalman_belief::config", "initial_belief < 0", "initial_belief",
       [](world&) { (void)hadw::difficulty_anchor<K>(K::config{.initial_belief = -0.1}); }},
      {"kalman_belief::config", "warmup_sigma < 0", "warmup_sigma",
       [](world&) { (void)hadw::difficulty_anchor<K>(K::config{.warmup_sigma = -1}); }},
      {"kalman_belief::config", "warmup_sigma Inf", "warmup_sigma",
       [](world&) { (void)hadw::difficulty_anchor<K>(K::config{.warmup_sigma = inf}); }},
      {"window_mean_belief::config", "window -3", "window",
       [](world&) { (void)hadw::difficulty_anchor<W>(W::config{.window = -3}); }},
      {"window_mean_belief::config", "initial_belief 2", "initial_belief",
       [](world&) { (void)hadw::difficulty_anchor<W>(W::config{.initial_belief = 2}); }},
      {"fixed_belief::config", "belief NaN", "belief",
       [](world&) { (void)hadw::difficulty_anchor<F>(F::config{.belief = qnan}); }},
      {"observe(ratio)", "ratio > 1", "ratio", [](world& w) { w.anchor.observe(1.25); }},
      {"observe(ratio)", "ratio < 0", "ratio", [](world& w) { w.window_anchor.observe(-0.5); }},
      {"observe(ratio)", "ratio NaN", "ratio", [](world& w) { w.anchor.observe(qnan); }},
      {"observe(ratio)", "ratio Inf", "ratio", [](world& w) { w.fixed_anchor.observe(inf); }},
      {"observe(ratio)", "a loaded step counter at INT64_MAX (regression: ++step overflowed)",
       "step()", [](world& w) { w.anchor.observe(0.5); },
       [](world& w) {
         auto b = kalman_bytes();
         put_u64(b, b.size() - 8 - 16, static_cast<std::uint64_t>(INT64_MAX));
         w.anchor = hadw::difficulty_anchor<>::load(resealed(b));
       }},
      {"reweight", "a loaded step counter at INT64_MAX", "step()",
       [](world& w) {
         hadw::reweight(hadw::grouped(std::span<float>(w.adv), w.layout),
                        hadw::grouped(std::span<const float>(w.rewards), w.layout), w.anchor);
       },
       [](world& w) {
         auto b = kalman_bytes();
         put_u64(b, b.size() - 8 - 16, static_cast<std::uint64_t>(INT64_MAX));
         w.anchor = hadw::difficulty_anchor<>::load(resealed(b));
         for (std::size_t i = 0; i < w.adv.size(); ++i) w.adv[i] = w.rewards[i] - 0.5f;
       }},
      {"observe(correct, total)", "total 0", "total",
       [](world& w) { w.anchor.observe(std::int64_t{0}, std::int64_t{0}); }},
      {"observe(correct, total)", "total < 0", "total",
       [](world& w) { w.anchor.observe(std::int64_t{-1}, std::int64_t{-4}); }},
      {"observe(correct, total)", "correct > total", "correct",
       [](world& w) { w.anchor.observe(std::int64_t{5}, std::int64_t{4}); }},
      {"observe(correct, total)", "correct < 0", "correct",
       [](world& w) { w.window_anchor.observe(std::int64_t{-1}, std::int64_t{4}); }},
  });
}

TEST_CASE("difficulty_anchor::load rejects every malformed checkpoint and constructs nothing",
          "[matrix][anchor][load]") {
  run_table({
      {"load", "empty buffer", "too short", [](world& w) { load_into(w, {}); }},
      {"load", "19 bytes", "too short",
       [](world& w) { load_into(w, std::vector<std::uint8_t>(19, 0)); }},
      {"load", "bad magic", "magic",
       [](world& w) {
         auto b = kalman_bytes();
         b[0] = 'X';
         load_into(w, b);
       }},
      {"load", "unknown format version", "version",
       [](world& w) {
         auto b = kalman_bytes();
         b[4] = 99;
         load_into(w, resealed(b));
       }},
      {"load", "a window_mean checkpoint into a kalman anchor", "belief kind",
       [](world& w) {
         hadw::difficulty_anchor<hadw::window_mean_belief> a;
         load_into(w, a.save());
       }},
      {"load", "a kalman checkpoint into a fixed anchor", "belief kind",
       [](world& w) { load_into<hadw::fixed_belief>(w, kalman_bytes()); }},
      {"load", "truncated (last byte dropped)", "anchor state",
       [](world& w) {
         auto b = kalman_bytes();
         b.pop_back();
         load_into(w, b);
       }},
      {"load", "one flipped payload bit", "checksum",
       [](world& w) {
         auto b = kalman_bytes();
         b[at_belief] ^= 0x10;
         load_into(w, b);
       }},
      {"load", "a trailing extra byte", "header says",
       [](world& w) {
         auto b = kalman_bytes();
         b.push_back(0);
         load_into(w, b);
       }},
      {"load", "a checksummed payload too short for its fields", "truncated",
       [](world& w) {
         auto b = kalman_bytes();
         b.erase(b.begin() + at_hist0, b.end() - 8);
         load_into(w, resealed(b));
       }},
      {"load", "a checksummed payload with unread bytes", "unread",
       [](world& w) {
         auto b = kalman_bytes();
         b.insert(b.end() - 8, 3, std::uint8_t{0});
         load_into(w, resealed(b));
       }},
      {"load", "belief outside [0, 1]", "belief",
       [](world& w) {
         auto b = kalman_bytes();
         put_f64(b, at_belief, 1.5);
         load_into(w, resealed(b));
       }},
      {"load", "belief NaN", "belief",
       [](world& w) {
         auto b = kalman_bytes();
         put_f64(b, at_belief, qnan);
         load_into(w, resealed(b));
       }},
      {"load", "eta outside [0, 1]", "eta",
       [](world& w) {
         auto b = kalman_bytes();
         put_f64(b, at_eta, -0.5);
         load_into(w, resealed(b));
       }},
      {"load", "config window 0", "window",
       [](world& w) {
         auto b = kalman_bytes();
         put_u64(b, at_window, 0);
         load_into(w, resealed(b));
       }},
      {"load", "history longer than the window", "history",
       [](world& w) {
         auto b = kalman_bytes();
         put_u64(b, at_hist, 1000);
         load_into(w, resealed(b));
       }},
      {"load", "history value outside [0, 1]", "history value",
       [](world& w) {
         auto b = kalman_bytes();
         put_f64(b, at_hist0, 3.0);
         load_into(w, resealed(b));
       }},
      {"load", "flag byte neither 0 nor 1", "initialise_from_first_observation",
       [](world& w) {
         auto b = kalman_bytes();
         b[at_flag] = 2;
         load_into(w, resealed(b));
       }},
      {"load", "negative step", "step",
       [](world& w) {
         auto b = kalman_bytes();
         put_u64(b, b.size() - 8 - 16, ~std::uint64_t{0});
         load_into(w, resealed(b));
       }},
      {"load", "fixed belief outside [0, 1]", "belief",
       [](world& w) {
         auto b = hadw::difficulty_anchor<hadw::fixed_belief>{}.save();
         put_f64(b, 12, 7.0);
         load_into<hadw::fixed_belief>(w, resealed(b));
       }},
      {"load", "window_mean window past 2^20", "window",
       [](world& w) {
         auto b = hadw::difficulty_anchor<hadw::window_mean_belief>{}.save();
         put_u64(b, 12, std::uint64_t{1} << 40);
         load_into<hadw::window_mean_belief>(w, resealed(b));
       }},
  });
}

namespace {

void do_reweight(world& w, const hadw::reweight_options& o) {
  hadw::reweight(hadw::grouped(std::span<float>(w.adv), w.layout),
                 hadw::grouped(std::span<const float>(w.rewards), w.layout), w.anchor, o);
}
template <class F>
hadw::reweight_options with(F&& f) {
  hadw::reweight_options o;
  f(o);
  return o;
}
void valid_advantages(world& w) {
  for (std::size_t i = 0; i < w.adv.size(); ++i) w.adv[i] = w.rewards[i] - 0.5f;
}

}  // namespace

TEST_CASE("hadw::reweight rejects bad inputs and options before touching advantages or anchor",
          "[matrix][reweight]") {
  run_table({
      {"reweight", "lambda_scale 0", "lambda_scale",
       [](world& w) { do_reweight(w, with([](auto& o) { o.lambda_scale = 0; })); }},
      {"reweight", "lambda_scale < 0", "lambda_scale",
       [](world& w) { do_reweight(w, with([](auto& o) { o.lambda_scale = -1.5; })); }},
      {"reweight", "lambda_scale NaN", "lambda_scale",
       [](world& w) { do_reweight(w, with([](auto& o) { o.lambda_scale = qnan; })); }},
      {"reweight", "lambda_scale Inf", "lambda_scale",
       [](world& w) { do_reweight(w, with([](auto& o) { o.lambda_scale = inf; })); }},
      {"reweight", "lambda_scale past 1e6 (regression: weighted advantages overflowed)",
       "lambda_scale", [](world& w) { do_reweight(w, with([](auto& o) { o.lambda_scale = 1e300; })); }},
      {"reweight", "reward_range low == high", "reward_range",
       [](world& w) { do_reweight(w, with([](auto& o) { o.range = {1, 1}; })); }},
      {"reweight", "reward_range low > high", "reward_range",
       [](world& w) { do_reweight(w, with([](auto& o) { o.range = {1, 0}; })); }},
      {"reweight", "reward_range infinite", "reward_range",
       [](world& w) { do_reweight(w, with([](auto& o) { o.range = {0, inf}; })); }},
      {"reweight", "reward_range width overflows (regression: NaN batch accuracy)",
       "reward_range",
       [](world& w) {
         constexpr double big = std::numeric_limits<double>::max();
         do_reweight(w, with([](auto& o) { o.range = {-big, big}; }));
       }},
      {"reweight", "reward_range past max_abs_reward (regression: -inf advantages)",
       "reward_range within",
       [](world& w) {
         // {1.6e308, 1.7e308} in [0, 1.7e308]: their mean overflowed, Phi = inf.
         const auto l = hadw::group_layout::uniform(1, 2);
         const std::vector<double> r{1.6e308, 1.7e308};
         std::vector<double> a{-0.5, 0.5};
         hadw::reweight_options o;
         o.range = {0.0, 1.7e308};
         hadw::reweight(hadw::grouped(std::span<double>(a), l),
                        hadw::grouped(std::span<const double>(r), l), w.anchor, o);
       }},
      {"reweight", "reward_range low below -1e15", "reward_range within",
       [](world& w) { do_reweight(w, with([](auto& o) { o.range = {-1e16, 1}; })); }},
      {"reweight", "anchor_timing out of range with update_anchor = false (regression: UB)",
       "timing",
       [](world& w) {
         do_reweight(w, with([](auto& o) {
                       o.update_anchor = false;
                       o.timing = static_cast<hadw::anchor_timing>(7);
                     }));
       }},
      {"reweight", "observation_kind out of range", "observation",
       [](world& w) {
         do_reweight(w, with([](auto& o) {
                       o.observation = static_cast<hadw::observation_kind>(9);
                     }));
       }},
      {"reweight", "rewards with a null layout (regression: segfault)", "rewards.layout",
       [](world& w) {
         hadw::reweight(hadw::grouped(std::span<float>(w.adv), w.layout),
                        hadw::grouped_span<const float>{std::span<const float>(w.rewards), nullptr},
                        w.anchor);
       }},
      {"reweight", "advantages with a null layout", "advantages.layout",
       [](world& w) {
         hadw::reweight(hadw::grouped_span<float>{std::span<float>(w.adv), nullptr},
                        hadw::grouped(std::span<const float>(w.rewards), w.layout), w.anchor);
       }},
      {"reweight", "advantages overlapping rewards one element on", "advantages and rewards",
       [](world& w) {
         const std::span<float> buf(w.shared);
         hadw::reweight(hadw::grouped(buf.subspan(1), w.layout),
                        hadw::grouped(std::span<const float>(buf.first(12)), w.layout), w.anchor);
       }},
      {"reweight", "success_threshold > 1", "success_threshold",
       [](world& w) { do_reweight(w, with([](auto& o) { o.success_threshold = 1.5; })); }},
      {"reweight", "success_threshold NaN", "success_threshold",
       [](world& w) { do_reweight(w, with([](auto& o) { o.success_threshold = qnan; })); }},
      {"reweight", "warmup_steps < 0", "warmup_steps",
       [](world& w) { do_reweight(w, with([](auto& o) { o.warmup_steps = -1; })); }},
      {"reweight", "mask of the wrong size", "mask.size()",
       [](world& w) {
         do_reweight(w, with([&](auto& o) { o.mask = std::span(w.mask).first(11); }));
       }},
      {"reweight", "rewards and advantages on different layouts", "layout",
       [](world& w) {
         const auto other = hadw::group_layout::uniform(4, 3);
         hadw::reweight(hadw::grouped(std::span<float>(w.adv), other),
                        hadw::grouped(std::span<const float>(w.rewards), w.layout), w.anchor);
       }},
      {"reweight", "a reward above the declared range", "rewards[6]",
       [](world& w) {
         w.rewards[6] = 1.5f;
         do_reweight(w, {});
       }},
      {"reweight", "a reward below the declared range [-1, 1]", "rewards[0]",
       [](world& w) {
         w.rewards[0] = -2.0f;
         do_reweight(w, with([](auto& o) { o.range = {-1, 1}; }));
       }},
      {"reweight", "+Inf reward", "rewards[1]",
       [](world& w) {
         w.rewards[1] = INFINITY;
         do_reweight(w, {});
       }},
      {"reweight", "NaN reward under nan_policy::reject", "rewards[3]",
       [](world& w) {
         w.rewards[3] = NAN;
         do_reweight(w, {});
       }},
      {"reweight", "a NaN advantage", "advantages[4]", [](world& w) { do_reweight(w, {}); },
       [](world& w) {
         valid_advantages(w);
         w.adv[4] = NAN;
       }},
      {"reweight", "an infinite advantage", "advantages[0]", [](world& w) { do_reweight(w, {}); },
       [](world& w) {
         valid_advantages(w);
         w.adv[0] = -INFINITY;
       }},
      {"reweight", "|advantage| past max_abs_advantage (regression: a * Phi overflowed float)",
       "advantages[7]", [](world& w) { do_reweight(w, {}); },
       [](world& w) {
         valid_advantages(w);
         w.adv[7] = 3e38f;
       }},
      {"reweight", "every response masked (no valid response)", "rewards",
       [](world& w) {
         std::fill(w.mask.begin(), w.mask.end(), 0);
         do_reweight(w, with([&](auto& o) { o.mask = w.mask; }));
       }},
      {"reweight", "every reward unscorable", "rewards",
       [](world& w) {
         std::fill(w.rewards.begin(), w.rewards.end(), NAN);
         do_reweight(w, with([](auto& o) { o.nan = hadw::nan_policy::unscorable; }));
       }},
      {"reweight", "window_mean anchor: lambda_scale NaN", "lambda_scale",
       [](world& w) {
         hadw::reweight_options o;
         o.lambda_scale = qnan;
         hadw::reweight(hadw::grouped(std::span<float>(w.adv), w.layout),
                        hadw::grouped(std::span<const float>(w.rewards), w.layout),
                        w.window_anchor, o);
       }},
  });
}

TEST_CASE("the fused entry points reject whatever either stage would, before writing",
          "[matrix][fused]") {
  const auto fused = [](world& w, const hadw::reweight_options& o, auto est) {
    hadw::estimate_and_reweight(est, w.layout, w.r(), w.a(), w.anchor, o,
                                std::span<const std::int64_t>(w.lengths));
  };
  const auto fused_tokens = [](world& w, const hadw::reweight_options& o, std::int64_t l,
                               std::span<const std::uint8_t> tm, std::span<float> tok) {
    hadw::estimate_reweight_broadcast(hadw::grpo{}, w.layout, w.r(), w.a(), w.anchor, tm, l, tok,
                                      o);
  };
  run_table({
      // estimate_and_reweight: the estimate stage's rules...
      {"estimate_and_reweight", "advantages of the wrong size", "advantages.size()",
       [](world& w) {
         hadw::estimate_and_reweight(hadw::grpo{}, w.layout, w.r(), w.a().first(6), w.anchor);
       }},
      {"estimate_and_reweight", "rewards of the wrong size", "rewards.size()",
       [](world& w) {
         hadw::estimate_and_reweight(hadw::grpo{}, w.layout, w.r().first(6), w.a(), w.anchor);
       }},
      {"estimate_and_reweight", "NaN reward", "rewards[0]",
       [&](world& w) {
         w.rewards[0] = NAN;
         fused(w, {}, hadw::grpo{});
       }},
      {"estimate_and_reweight", "size-1 group", "group",
       [](world& w) {
         const auto l = hadw::group_layout::from_offsets(std::vector<int>{0, 1, 12});
         hadw::estimate_and_reweight(hadw::grpo{}, l, w.r(), w.a(), w.anchor);
       }},
      {"estimate_and_reweight", "estimator option eps < 0", "eps",
       [&](world& w) { fused(w, {}, hadw::grpo{.eps = -1}); }},
      {"estimate_and_reweight", "OPO without lengths", "lengths",
       [](world& w) {
         hadw::estimate_and_reweight(hadw::opo{}, w.layout, w.r(), w.a(), w.anchor);
       }},
      {"estimate_and_reweight", "a negative length", "lengths[11]",
       [&](world& w) {
         w.lengths[11] = -5;
         fused(w, {}, hadw::opo{});
       }},
      // ... and the reweight stage's, which estimate alone would have accepted.
      {"estimate_and_reweight", "a reward outside the declared range", "rewards[5]",
       [&](world& w) {
         w.rewards[5] = 3.0f;
         fused(w, {}, hadw::grpo{});
       }},
      {"estimate_and_reweight", "lambda_scale 0", "lambda_scale",
       [&](world& w) { fused(w, with([](auto& o) { o.lambda_scale = 0; }), hadw::dr_grpo{}); }},
      {"estimate_and_reweight", "reward_range width overflows", "reward_range",
       [&](world& w) {
         constexpr double big = std::numeric_limits<double>::max();
         fused(w, with([](auto& o) { o.range = {-big, big}; }), hadw::rloo{});
       }},
      {"estimate_and_reweight", "mask of the wrong size", "mask.size()",
       [&](world& w) {
         fused(w, with([&](auto& o) { o.mask = std::span(w.mask).first(2); }), hadw::grpo{});
       }},
      {"estimate_and_reweight", "every response masked", "rewards",
       [&](world& w) {
         std::fill(w.mask.begin(), w.mask.end(), 0);
         fused(w, with([&](auto& o) { o.mask = w.mask; }), hadw::grpo{});
       }},
      {"estimate_and_reweight", "advantages overlapping rewards one element on",
       "advantages and rewards overlap",
       [](world& w) {
         const std::span<float> buf(w.shared);
         hadw::estimate_and_reweight(hadw::grpo{}, w.layout,
                                     std::span<const float>(buf.first(12)), buf.subspan(1),
                                     w.anchor);
       }},
      {"estimate_and_reweight", "reward_range past max_abs_reward", "reward_range within",
       [&](world& w) { fused(w, with([](auto& o) { o.range = {0, 1.7e308}; }), hadw::grpo{}); }},
      {"estimate_and_reweight", "anchor_timing out of range", "timing",
       [&](world& w) {
         fused(w, with([](auto& o) {
                 o.update_anchor = false;
                 o.timing = static_cast<hadw::anchor_timing>(2);
               }),
               hadw::grpo{});
       }},
      // estimate_reweight_broadcast: the token shapes, then everything above.
      {"estimate_reweight_broadcast", "L = 0", "L",
       [&](world& w) { fused_tokens(w, {}, 0, w.token_mask, w.tokens); }},
      {"estimate_reweight_broadcast", "token buffer not N * L", "token_advantages.size()",
       [&](world& w) {
         fused_tokens(w, {}, L, std::span(w.token_mask).first(44), std::span(w.tokens).first(44));
       }},
      {"estimate_reweight_broadcast", "token mask not N * L", "token_mask.size()",
       [&](world& w) { fused_tokens(w, {}, L, std::span(w.token_mask).first(44), w.tokens); }},
      {"estimate_reweight_broadcast", "a reward outside the declared range", "rewards[2]",
       [&](world& w) {
         w.rewards[2] = -1.0f;
         fused_tokens(w, {}, L, w.token_mask, w.tokens);
       }},
      {"estimate_reweight_broadcast", "lambda_scale NaN", "lambda_scale",
       [&](world& w) {
         fused_tokens(w, with([](auto& o) { o.lambda_scale = qnan; }), L, w.token_mask, w.tokens);
       }},
      {"estimate_reweight_broadcast", "advantages overlapping rewards one element on",
       "advantages and rewards overlap",
       [](world& w) {
         const std::span<float> buf(w.shared);
         hadw::estimate_reweight_broadcast(hadw::grpo{}, w.layout,
                                           std::span<const float>(buf.first(12)), buf.subspan(1),
                                           w.anchor, std::span<const std::uint8_t>(w.token_mask),
                                           L, std::span<float>(w.tokens));
       }},
      {"estimate_reweight_broadcast", "token_advantages over the rewards",
       "token_advantages and rewards",
       [](world& w) {
         // rewards = tokens[0:12]: the token rows of group 0 would overwrite group 1's rewards.
         hadw::estimate_reweight_broadcast(hadw::grpo{}, w.layout,
                                           std::span<const float>(w.tokens).first(12), w.a(),
                                           w.anchor, std::span<const std::uint8_t>(w.token_mask),
                                           L, std::span<float>(w.tokens));
       },
       [](world& w) { std::copy(w.rewards.begin(), w.rewards.end(), w.tokens.begin()); }},
      {"estimate_reweight_broadcast", "token_advantages over the advantages",
       "token_advantages and advantages",
       [](world& w) {
         hadw::estimate_reweight_broadcast(hadw::grpo{}, w.layout, w.r(),
                                           std::span<float>(w.tokens).subspan(8, 12), w.anchor,
                                           std::span<const std::uint8_t>(w.token_mask), L,
                                           std::span<float>(w.tokens));
       }},
      {"estimate_reweight_broadcast", "NaN reward", "rewards[7]",
       [&](world& w) {
         w.rewards[7] = NAN;
         fused_tokens(w, {}, L, w.token_mask, w.tokens);
       }},
  });
}

namespace {

hadw::policy_batch<double> batch_of(const world& w) {
  return {.logp = w.logp,
          .old_logp = w.old_logp,
          .advantages = w.token_adv,
          .mask = w.token_mask,
          .lengths = {},
          .row_length = L};
}
void loss(world& w, const hadw::policy_batch<double>& b) {
  (void)hadw::policy_loss(hadw::grpo_objective{}, b, std::span<double>(w.grad));
}

}  // namespace

TEST_CASE("the objectives reject bad batches and options before writing the gradient",
          "[matrix][objectives]") {
  run_table({
      {"policy_loss", "row_length 0", "row_length",
       [](world& w) {
         auto b = batch_of(w);
         b.row_length = 0;
         loss(w, b);
       }},
      {"policy_loss", "logp not a multiple of row_length", "logp.size()",
       [](world& w) {
         auto b = batch_of(w);
         b.logp = std::span(w.logp).first(47);
         loss(w, b);
       }},
      {"policy_loss", "old_logp of the wrong size", "old_logp.size()",
       [](world& w) {
         auto b = batch_of(w);
         b.old_logp = std::span(w.old_logp).first(40);
         loss(w, b);
       }},
      {"policy_loss", "advantages neither N nor N * L", "advantages.size()",
       [](world& w) {
         auto b = batch_of(w);
         b.advantages = std::span(w.token_adv).first(5);
         loss(w, b);
       }},
      {"policy_loss", "grad of the wrong size", "grad.size()",
       [](world& w) {
         (void)hadw::policy_loss(hadw::grpo_objective{}, batch_of(w),
                                 std::span<double>(w.grad).first(3));
       }},
      {"policy_loss", "mask and lengths both given", "mask or lengths",
       [](world& w) {
         auto b = batch_of(w);
         b.lengths = w.lengths;
         loss(w, b);
       }},
      {"policy_loss", "mask of the wrong size", "mask.size()",
       [](world& w) {
         auto b = batch_of(w);
         b.mask = std::span(w.token_mask).first(7);
         loss(w, b);
       }},
      {"policy_loss", "a length past row_length", "lengths[0]",
       [](world& w) {
         auto b = batch_of(w);
         b.mask = {};
         w.lengths[0] = L + 1;
         b.lengths = w.lengths;
         loss(w, b);
       }},
      {"policy_loss", "NaN logp on a valid token", "logp[5]",
       [](world& w) {
         w.logp[5] = qnan;
         loss(w, batch_of(w));
       }},
      {"policy_loss", "Inf old_logp on a valid token", "old_logp[9]",
       [](world& w) {
         w.old_logp[9] = -inf;
         loss(w, batch_of(w));
       }},
      {"policy_loss", "NaN advantage", "advantages[2]",
       [](world& w) {
         w.token_adv[2] = qnan;
         loss(w, batch_of(w));
       }},
      {"policy_loss", "clip.low > 1", "clip.low",
       [](world& w) {
         hadw::dapo_objective o;
         o.clip.low = 1.5;
         (void)hadw::policy_loss(o, batch_of(w), std::span<double>(w.grad));
       }},
      {"policy_loss", "clip.high < 0", "clip.high",
       [](world& w) {
         hadw::gspo_objective o;
         o.clip.high = -0.1;
         (void)hadw::policy_loss(o, batch_of(w), std::span<double>(w.grad));
       }},
      {"policy_loss", "dual_clip_c in (0, 1]", "dual_clip_c",
       [](world& w) {
         hadw::grpo_objective o;
         o.dual_clip_c = 0.5;
         (void)hadw::policy_loss(o, batch_of(w), std::span<double>(w.grad));
       }},
      {"policy_loss", "seq-mean-token-sum-norm without a normaliser", "normaliser",
       [](world& w) {
         hadw::grpo_objective o;
         o.agg.mode = hadw::loss_agg::seq_mean_token_sum_norm;
         (void)hadw::policy_loss(o, batch_of(w), std::span<double>(w.grad));
       }},
      {"policy_loss", "dp_size 0", "dp_size",
       [](world& w) {
         hadw::grpo_objective o;
         o.agg.dp_size = 0;
         (void)hadw::policy_loss(o, batch_of(w), std::span<double>(w.grad));
       }},
      {"policy_loss", "global_tokens below this call's", "global_tokens",
       [](world& w) {
         hadw::dapo_objective o;
         o.agg.global_tokens = 3;
         (void)hadw::policy_loss(o, batch_of(w), std::span<double>(w.grad));
       }},
      {"policy_loss", "global_sequences < 0", "global_sequences",
       [](world& w) {
         hadw::grpo_objective o;
         o.agg.global_sequences = -1;
         (void)hadw::policy_loss(o, batch_of(w), std::span<double>(w.grad));
       }},
      {"aggregate_loss", "NaN loss on a valid token", "loss[3]",
       [](world& w) {
         w.logp[3] = qnan;
         (void)hadw::aggregate_loss(std::span<const double>(w.logp),
                                    std::span<const std::uint8_t>(w.token_mask), L, {});
       }},
      {"aggregate_loss", "row_length 0", "row_length",
       [](world& w) {
         (void)hadw::aggregate_loss(std::span<const double>(w.logp),
                                    std::span<const std::uint8_t>(w.token_mask), 0, {});
       }},
      {"aggregate_loss", "lengths of the wrong size", "lengths.size()",
       [](world& w) {
         (void)hadw::aggregate_loss(std::span<const double>(w.logp),
                                    std::span<const std::int64_t>(w.lengths).first(2), L, {});
       }},
      {"parse_loss_agg", "an unknown mode name", "loss_agg_mode",
       [](world&) { (void)hadw::parse_loss_agg("token-median"); }},
      {"filter_degenerate_groups", "keep of the wrong size", "keep.size()",
       [](world& w) {
         (void)hadw::filter_degenerate_groups(w.layout, w.r(),
                                              std::span<std::uint8_t>(w.keep).first(4));
       }},
      {"filter_degenerate_groups", "keep_group of the wrong size", "keep_group.size()",
       [](world& w) {
         (void)hadw::filter_degenerate_groups(w.layout, w.r(), std::span<std::uint8_t>(w.keep),
                                              std::span<std::uint8_t>(w.keep_group).first(2));
       }},
      {"filter_degenerate_groups", "NaN metric", "metric[4]",
       [](world& w) {
         w.rewards[4] = NAN;
         (void)hadw::filter_degenerate_groups(w.layout, w.r(), std::span<std::uint8_t>(w.keep));
       }},
      {"apply_overlong_penalty", "buffer > max_length", "buffer",
       [](world& w) {
         hadw::apply_overlong_penalty({.max_length = 10, .buffer = 20},
                                      std::span<const std::int64_t>(w.lengths),
                                      std::span<double>(w.shaped));
       }},
      {"apply_overlong_penalty", "a negative length", "lengths[1]",
       [](world& w) {
         w.lengths[1] = -1;
         hadw::apply_overlong_penalty({}, std::span<const std::int64_t>(w.lengths),
                                      std::span<double>(w.shaped));
       }},
      {"apply_overlong_penalty", "rewards of the wrong size", "rewards.size()",
       [](world& w) {
         hadw::apply_overlong_penalty({}, std::span<const std::int64_t>(w.lengths),
                                      std::span<double>(w.shaped).first(3));
       }},
  });
}

// -------------------------------------------------------------------------------------------
// Accepted inputs and how they are treated

namespace {

/// GRPO's advantage, written out: (r - mean) / (std_unbiased + eps) over the valid values.
std::vector<double> grpo_reference(const std::vector<double>& r, double eps = 1e-6) {
  double mean = 0;
  for (double x : r) mean += x;
  mean /= static_cast<double>(r.size());
  double ss = 0;
  for (double x : r) ss += (x - mean) * (x - mean);
  const double sd = std::sqrt(ss / static_cast<double>(r.size() - 1));
  std::vector<double> a;
  for (double x : r) a.push_back((x - mean) / (sd + eps));
  return a;
}

}  // namespace

TEST_CASE("NaN under nan_policy::unscorable: excluded from the statistics, advantage 0, "
          "left alone by reweight and not counted in y_t",
          "[matrix][accepted][qnan]") {
  const auto layout = hadw::group_layout::uniform(2, 4);
  const std::vector<double> r{1, NAN, 0, 1, 0, 0, 1, 0};
  std::vector<double> adv(8, 7.0);
  hadw::estimate(hadw::grpo{}, layout, std::span<const double>(r), std::span<double>(adv),
                 {.nan = hadw::nan_policy::unscorable});
  const auto g0 = grpo_reference({1, 0, 1});
  const auto g1 = grpo_reference({0, 0, 1, 0});
  CHECK(adv[0] == Approx(g0[0]).epsilon(1e-12));
  CHECK(adv[1] == 0.0);
  CHECK(adv[2] == Approx(g0[1]).epsilon(1e-12));
  CHECK(adv[3] == Approx(g0[2]).epsilon(1e-12));
  for (int i = 0; i < 4; ++i) CHECK(adv[4 + i] == Approx(g1[i]).epsilon(1e-12));

  hadw::difficulty_anchor<hadw::fixed_belief> anchor;
  hadw::reweight_options o;
  o.nan = hadw::nan_policy::unscorable;
  adv[1] = 3.0;  // an unscorable response's advantage is not read, not written
  const auto st = hadw::reweight(hadw::grouped(std::span<double>(adv), layout),
                                 hadw::grouped(std::span<const double>(r), layout), anchor, o);
  CHECK(adv[1] == 3.0);
  CHECK(st.total == 7);
  CHECK(st.batch_accuracy == Approx(3.0 / 7.0));
}

TEST_CASE("A fully masked group gets advantage 0 and leaves the other groups' values alone",
          "[matrix][accepted][mask]") {
  const auto layout = hadw::group_layout::uniform(2, 3);
  const std::vector<float> r{1, 0, 0, 1, 1, 0};
  const std::vector<std::uint8_t> mask{0, 0, 0, 1, 1, 1};
  std::vector<float> adv(6, 7.0f);
  hadw::estimate(hadw::grpo{}, layout, std::span<const float>(r), std::span<float>(adv),
                 {.mask = mask});
  CHECK(adv[0] == 0.0f);
  CHECK(adv[1] == 0.0f);
  CHECK(adv[2] == 0.0f);
  const auto g1 = grpo_reference({1, 1, 0});
  for (int i = 0; i < 3; ++i) CHECK(adv[3 + i] == Approx(g1[i]).epsilon(1e-6));

  // reweight skips the masked group entirely and takes y_t from the valid responses only.
  hadw::difficulty_anchor<hadw::fixed_belief> anchor;
  hadw::reweight_options o;
  o.mask = mask;
  std::vector<float> before = adv;
  adv[0] = 5.0f;
  const auto st = hadw::reweight(hadw::grouped(std::span<float>(adv), layout),
                                 hadw::grouped(std::span<const float>(r), layout), anchor, o);
  CHECK(adv[0] == 5.0f);
  CHECK(st.total == 3);
  CHECK(st.batch_accuracy == Approx(2.0 / 3.0));
}

TEST_CASE("Size-1 groups follow the estimator's singleton rule", "[matrix][accepted][singleton]") {
  const auto layout = hadw::group_layout::from_offsets(std::vector<int>{0, 1, 4});
  const std::vector<double> r{0.75, 1, 0, 0};
  std::vector<double> adv(4, 7.0);
  const auto run = [&](auto est) {
    hadw::estimate(est, layout, std::span<const double>(r), std::span<double>(adv));
    return adv[0];
  };
  CHECK(run(hadw::grpo{.singleton = hadw::singleton_rule::zero}) == 0.0);
  // verl: baseline 0, std 1, so A = r / (1 + eps) under GRPO and r under Dr.GRPO.
  CHECK(run(hadw::grpo{.eps = 1e-6, .singleton = hadw::singleton_rule::raw_reward}) ==
        Approx(0.75 / (1.0 + 1e-6)).epsilon(1e-15));
  CHECK(run(hadw::dr_grpo{.singleton = hadw::singleton_rule::raw_reward}) == 0.75);
  CHECK(run(hadw::compat::verl::rloo) == 0.75);
}

TEST_CASE("Ids in mixed order: outputs land at the caller's positions",
          "[matrix][accepted][ids]") {
  // Caller order interleaves two prompts; the same data sorted by prompt is the reference.
  const std::vector<std::string> ids{"b", "a", "b", "a", "a", "b"};
  const std::vector<double> r{1, 0, 0, 1, 1, 1};
  std::vector<double> adv(6);
  hadw::estimate(hadw::grpo{}, hadw::group_layout::from_ids(ids), std::span<const double>(r),
                 std::span<double>(adv));
  const auto gb = grpo_reference({1, 0, 1});  // "b" at 0, 2, 5
  const auto ga = grpo_reference({0, 1, 1});  // "a" at 1, 3, 4
  CHECK(adv[0] == Approx(gb[0]).epsilon(1e-12));
  CHECK(adv[2] == Approx(gb[1]).epsilon(1e-12));
  CHECK(adv[5] == Approx(gb[2]).epsilon(1e-12));
  CHECK(adv[1] == Approx(ga[0]).epsilon(1e-12));
  CHECK(adv[3] == Approx(ga[1]).epsilon(1e-12));
  CHECK(adv[4] == Approx(ga[2]).epsilon(1e-12));
}

TEST_CASE("A huge group: one prompt with 2^20 responses", "[matrix][accepted][huge]") {
  const std::int64_t G = std::int64_t{1} << 20;
  const auto layout = hadw::group_layout::uniform(1, G);
  std::vector<float> r(static_cast<std::size_t>(G));
  for (std::size_t i = 0; i < r.size(); ++i) r[i] = static_cast<float>(i % 2);
  std::vector<float> adv(r.size());
  hadw::estimate(hadw::grpo{}, layout, std::span<const float>(r), std::span<float>(adv));
  // Half ones: mean 1/2, unbiased std sqrt(G / (4 (G - 1))).
  const double sd = std::sqrt(static_cast<double>(G) / (4.0 * static_cast<double>(G - 1)));
  CHECK(adv[0] == Approx(-0.5 / (sd + 1e-6)).epsilon(1e-6));
  CHECK(adv[1] == Approx(0.5 / (sd + 1e-6)).epsilon(1e-6));
  CHECK(adv.back() == Approx(0.5 / (sd + 1e-6)).epsilon(1e-6));
}

TEST_CASE("Extreme but finite rewards give finite advantages", "[matrix][accepted][extreme]") {
  // Regression (fuzzer): eps = 0 and a spread below double's squared resolution gave +-Inf.
  const auto layout = hadw::group_layout::uniform(1, 2);
  const std::vector<double> tiny{2.0411477305676712e-317, 0.0};
  std::vector<double> adv(2, 7.0);
  hadw::estimate(hadw::grpo{.eps = 0.0}, layout, std::span<const double>(tiny),
                 std::span<double>(adv));
  CHECK(std::isfinite(adv[0]));
  CHECK(std::isfinite(adv[1]));
  CHECK(adv[0] == 0.0);  // no resolvable spread: treated as an all-equal group
  // A resolvable tiny spread is scale-free as it should be: +-1/sqrt(2).
  const std::vector<double> small{1e-150, 0.0};
  hadw::estimate(hadw::grpo{.eps = 0.0}, layout, std::span<const double>(small),
                 std::span<double>(adv));
  CHECK(adv[0] == Approx(std::sqrt(0.5)).epsilon(1e-12));
  CHECK(adv[1] == Approx(-std::sqrt(0.5)).epsilon(1e-12));

  // The largest accepted rewards, in float, through the estimator with the largest gain (GPG:
  // alpha = N / #non-zero = 4, f_norm at its floor 1e-6): finite, and equal to the closed form.
  const auto four = hadw::group_layout::uniform(1, 4);
  const std::vector<float> big{1e15f, -1e15f, 0.0f, 0.0f};
  std::vector<float> out(4);
  hadw::estimate(hadw::gpg{.f_norm = 1e-6}, four, std::span<const float>(big),
                 std::span<float>(out));
  const double alpha = 4.0 / 2.0, mean = (1e15 + -1e15f) / 4.0;  // the float rewards, exactly
  CHECK(out[0] == Approx(alpha * (static_cast<double>(1e15f) - mean) / 1e-6).epsilon(1e-6));
  CHECK(std::isfinite(out[0]));
  CHECK(std::isfinite(out[1]));
}

TEST_CASE("Empty token batches and zero-length rows are accepted", "[matrix][accepted][tokens]") {
  std::vector<float> adv, out;
  std::vector<std::uint8_t> mask;
  hadw::broadcast_to_tokens(std::span<const float>(adv), std::span<const std::uint8_t>(mask), 3,
                            std::span<float>(out));
  const std::vector<float> a{2.0f, -1.0f};
  const std::vector<std::uint64_t> len{0, 3};
  std::vector<float> tok(6, 9.0f);
  hadw::broadcast_to_tokens(std::span<const float>(a), std::span<const std::uint64_t>(len), 3,
                            std::span<float>(tok));
  CHECK(tok == std::vector<float>{0, 0, 0, -1, -1, -1});
}
