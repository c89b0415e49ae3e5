// Golden outputs: every public CPU entry point run over a fixed corpus (every estimator and
// preset, uniform / ragged / permuted layouts, masks, lengths, NaN-unscorable rewards, size-1
// rules, float and double, every belief, both timings, warm-up, token rows, error messages), the
// bits of each result hashed per case and compared with tests/golden/outputs.txt.
//
// The golden file was written by this test *before* the architecture refactor (issue 17) and
// must never be regenerated to make a change pass: a differing hash means a result changed by
// at least one bit. HADW_GOLDEN_WRITE=<path> writes the current hashes (for a new case only).
#include <catch2/catch.hpp>
#include <hadw/hadw.hpp>

#include <bit>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace {

/// FNV-1a over the bit patterns of everything a case produced.
struct digest {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  void bytes(const void* p, std::size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) {
      h ^= b[i];
      h *= 0x100000001b3ULL;
    }
  }
  template <class T>
  void values(const std::vector<T>& v) {
    bytes(v.data(), v.size() * sizeof(T));
  }
  void value(double v) { bytes(&v, sizeof v); }
  void text(const std::string& s) { bytes(s.data(), s.size()); }
  void stats(const hadw::step_stats& st) {
    st.for_each([&](std::string_view key, double v) {
      text(std::string(key));
      value(v);
    });
  }
};

/// splitmix64: the corpus is the same on every platform and standard library.
struct rng {
  std::uint64_t s;
  std::uint64_t next() {
    std::uint64_t z = (s += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  std::int64_t below(std::int64_t n) { return static_cast<std::int64_t>(next() % static_cast<std::uint64_t>(n)); }
};

enum class rewards_kind { binary, continuous, signed_unit, ties };

struct corpus_batch {
  std::string name;
  hadw::group_layout layout = hadw::group_layout::uniform(1, 2);
  std::vector<double> rewards;
  std::vector<std::uint8_t> mask;
  std::vector<std::int64_t> lengths;
  bool has_singletons = false;
  hadw::reward_range range{};
};

std::vector<double> make_rewards(rng& g, std::int64_t n, rewards_kind kind) {
  std::vector<double> r(static_cast<std::size_t>(n));
  for (auto& v : r) {
    switch (kind) {
      case rewards_kind::binary: v = g.unit() < 0.4 ? 1.0 : 0.0; break;
      case rewards_kind::continuous: v = g.unit(); break;
      case rewards_kind::signed_unit: v = 2.0 * g.unit() - 1.0; break;
      case rewards_kind::ties: v = 0.25 * static_cast<double>(g.below(5)); break;
    }
  }
  return r;
}

std::vector<corpus_batch> corpus() {
  std::vector<corpus_batch> out;
  rng g{20261201};
  const auto add = [&](std::string name, hadw::group_layout layout, rewards_kind kind,
                       bool singletons) {
    corpus_batch b;
    b.name = std::move(name);
    b.rewards = make_rewards(g, layout.num_responses(), kind);
    b.layout = std::move(layout);
    b.has_singletons = singletons;
    if (kind == rewards_kind::signed_unit) b.range = {-1.0, 1.0};
    b.lengths.resize(b.rewards.size());
    for (auto& l : b.lengths) l = 1 + g.below(200);
    out.push_back(std::move(b));
  };
  add("uniform64x8_binary", hadw::group_layout::uniform(64, 8), rewards_kind::binary, false);
  add("uniform37x16_cont", hadw::group_layout::uniform(37, 16), rewards_kind::continuous, false);
  add("uniform129x4_ties", hadw::group_layout::uniform(129, 4), rewards_kind::ties, false);
  add("uniform20x5_signed", hadw::group_layout::uniform(20, 5), rewards_kind::signed_unit, false);
  add("uniform9x64_binary", hadw::group_layout::uniform(9, 64), rewards_kind::binary, false);
  add("ragged_binary",
      hadw::group_layout::from_offsets({0, 3, 11, 12, 20, 21, 37, 40, 48, 50, 57}),
      rewards_kind::binary, true);
  add("ragged_cont", hadw::group_layout::from_offsets({0, 2, 9, 16, 17, 33, 40}),
      rewards_kind::continuous, true);
  {
    std::vector<int> ids;
    for (int i = 0; i < 96; ++i) ids.push_back(static_cast<int>(g.below(13)));
    add("ids_permuted_binary", hadw::group_layout::from_ids(ids), rewards_kind::binary, true);
  }
  // Masked and NaN-unscorable variants of a few of them.
  const std::size_t base = out.size();
  for (std::size_t b = 0; b < base; b += 2) {
    corpus_batch m = out[b];
    m.name += "+mask";
    m.mask.assign(m.rewards.size(), 1);
    for (std::size_t i = 0; i < m.mask.size(); ++i) m.mask[i] = g.unit() < 0.15 ? 0 : 1;
    out.push_back(m);
    corpus_batch nan = out[b];
    nan.name += "+nan";
    for (auto& r : nan.rewards)
      if (g.unit() < 0.1) r = NAN;
    out.push_back(nan);
  }
  return out;
}

bool has_nan(const corpus_batch& b) {
  for (double r : b.rewards)
    if (std::isnan(r)) return true;
  return false;
}

/// Runs f, hashing either what it produced or the error message it threw.
void run_case(digest& d, const std::function<void(digest&)>& f) {
  try {
    f(d);
  } catch (const hadw::error& e) {
    d.text(std::string("error: ") + e.what());
  }
}

template <class Est>
void estimators_on(std::map<std::string, std::uint64_t>& results, const std::string& name,
                   const Est& est, const corpus_batch& b) {
  const hadw::nan_policy nan = has_nan(b) ? hadw::nan_policy::unscorable : hadw::nan_policy::reject;
  for (int with_lengths = 0; with_lengths < 2; ++with_lengths) {
    const hadw::estimate_options opt{
        .mask = b.mask, .lengths = with_lengths ? std::span<const std::int64_t>(b.lengths)
                                                : std::span<const std::int64_t>{},
        .nan = nan};
    const std::string key = b.name + "/" + name + (with_lengths ? "/lengths" : "");
    digest d;
    run_case(d, [&](digest& dd) {
      std::vector<double> a(b.rewards.size(), -7.0);
      hadw::estimate(est, b.layout, std::span<const double>(b.rewards), std::span<double>(a), opt);
      dd.values(a);
      std::vector<float> rf(b.rewards.begin(), b.rewards.end()), af(rf.size(), -7.0f);
      hadw::estimate(est, b.layout, std::span<const float>(rf), std::span<float>(af), opt);
      dd.values(af);
    });
    results[key] = d.h;
  }
}

template <class Belief>
void reweight_on(std::map<std::string, std::uint64_t>& results, const std::string& name,
                 const typename Belief::config& cfg, const corpus_batch& b) {
  const hadw::nan_policy nan = has_nan(b) ? hadw::nan_policy::unscorable : hadw::nan_policy::reject;
  for (int timing = 0; timing < 2; ++timing)
    for (int obs = 0; obs < 2; ++obs) {
      const hadw::reweight_options opt{
          .lambda_scale = 1.3,
          .timing = timing ? hadw::anchor_timing::posterior : hadw::anchor_timing::prior,
          .range = b.range,
          .observation = obs ? hadw::observation_kind::success_rate
                             : hadw::observation_kind::mean_reward,
          .success_threshold = 0.6,
          .warmup_steps = 1,
          .mask = b.mask,
          .nan = nan};
      const std::string key = b.name + "/reweight/" + name + "/t" + std::to_string(timing) +
                              "o" + std::to_string(obs);
      digest d;
      run_case(d, [&](digest& dd) {
        hadw::difficulty_anchor<Belief> anchor(cfg);
        const hadw::grpo est{.singleton = hadw::singleton_rule::zero};
        std::vector<double> adv(b.rewards.size());
        for (int step = 0; step < 4; ++step) {
          std::vector<double> r = b.rewards;
          for (auto& v : r)  // a drifting batch: the anchor must move
            if (!std::isnan(v) && b.range.low == 0.0) v = v * (0.5 + 0.15 * step);
          hadw::estimate(est, b.layout, std::span<const double>(r), std::span<double>(adv),
                         hadw::estimate_options{.mask = b.mask, .nan = nan});
          const auto st = hadw::reweight(hadw::grouped(std::span<double>(adv), b.layout),
                                         hadw::grouped(std::span<const double>(r), b.layout),
                                         anchor, opt);
          dd.values(adv);
          dd.stats(st);
          // The fused call from the same anchor state gives the same bits (hashed too).
          std::vector<float> rf(r.begin(), r.end()), af(r.size());
          auto copy = anchor;
          const auto sf = hadw::estimate_and_reweight(est, b.layout, std::span<const float>(rf),
                                                      std::span<float>(af), copy, opt);
          dd.values(af);
          dd.stats(sf);
        }
        dd.values(anchor.save());
      });
      results[key] = d.h;
    }
}

void tokens_on(std::map<std::string, std::uint64_t>& results, const corpus_batch& b) {
  const hadw::nan_policy nan = has_nan(b) ? hadw::nan_policy::unscorable : hadw::nan_policy::reject;
  const std::int64_t L = 7;
  const std::size_t n = b.rewards.size();
  std::vector<std::uint8_t> tmask(n * L);
  std::vector<std::int64_t> tlen(n);
  rng g{n};
  for (auto& m : tmask) m = g.unit() < 0.7;
  for (auto& l : tlen) l = g.below(L + 1);
  digest d;
  run_case(d, [&](digest& dd) {
    const hadw::reweight_options opt{.range = b.range, .mask = b.mask, .nan = nan};
    const auto est = hadw::compat::verl::grpo;
    hadw::difficulty_anchor<> a1, a2;
    std::vector<double> adv(n), tok(n * L, -3.0);
    auto st = hadw::estimate_reweight_broadcast(est, b.layout, std::span<const double>(b.rewards),
                                                std::span<double>(adv), a1,
                                                std::span<const std::uint8_t>(tmask), L,
                                                std::span<double>(tok), opt);
    dd.values(adv);
    dd.values(tok);
    dd.stats(st);
    std::vector<float> tokf(n * L, -3.0f);
    st = hadw::estimate_reweight_broadcast(est, b.layout, std::span<const double>(b.rewards),
                                           std::span<double>(adv), a2,
                                           std::span<const std::int64_t>(tlen), L,
                                           std::span<float>(tokf), opt);
    dd.values(adv);
    dd.values(tokf);
    dd.stats(st);
    std::vector<double> tok2(n * L);
    hadw::broadcast_to_tokens(std::span<const double>(adv), std::span<const std::uint8_t>(tmask),
                              L, std::span<double>(tok2));
    dd.values(tok2);
  });
  results[b.name + "/tokens"] = d.h;
}

std::map<std::string, std::uint64_t> run_corpus() {
  std::map<std::string, std::uint64_t> results;
  using hadw::singleton_rule;
  for (const corpus_batch& b : corpus()) {
    for (auto rule : {singleton_rule::reject, singleton_rule::zero, singleton_rule::raw_reward}) {
      const std::string s = "/s" + std::to_string(static_cast<int>(rule));
      estimators_on(results, "grpo" + s, hadw::grpo{.singleton = rule}, b);
      estimators_on(results, "grpo_pop_var" + s,
                    hadw::grpo{.eps = 1e-4, .unbiased = false,
                               .eps_at = hadw::eps_placement::add_to_var, .singleton = rule},
                    b);
      estimators_on(results, "dr_grpo" + s, hadw::dr_grpo{.singleton = rule}, b);
      estimators_on(results, "batch_raw" + s, hadw::grpo_batch_std{.singleton = rule}, b);
      estimators_on(results, "batch_centred" + s,
                    hadw::grpo_batch_std{.centred = true, .singleton = rule}, b);
      estimators_on(results, "rloo" + s, hadw::rloo{.singleton = rule}, b);
      estimators_on(results, "rpp" + s, hadw::reinforce_pp_baseline{.singleton = rule}, b);
      estimators_on(results, "opo" + s, hadw::opo{.singleton = rule}, b);
      estimators_on(results, "gpg" + s, hadw::gpg{.f_norm = 0.5, .singleton = rule}, b);
      estimators_on(results, "passk" + s, hadw::grpo_passk{.singleton = rule}, b);
      estimators_on(results, "passk_raw" + s, hadw::grpo_passk{.normalise = false, .singleton = rule}, b);
    }
    estimators_on(results, "trl_grpo", hadw::compat::trl::grpo, b);
    estimators_on(results, "trl_batch", hadw::compat::trl::grpo_batch, b);
    estimators_on(results, "openrlhf_rpp", hadw::compat::openrlhf::reinforce_pp_baseline, b);
    estimators_on(results, "verl_gpg", hadw::compat::verl::gpg, b);
    reweight_on<hadw::kalman_belief>(results, "kalman", {.eta = 0.3, .window = 3}, b);
    reweight_on<hadw::kalman_belief>(results, "kalman_first",
                                     {.initialise_from_first_observation = true}, b);
    reweight_on<hadw::window_mean_belief>(results, "window", {.window = 2}, b);
    reweight_on<hadw::fixed_belief>(results, "fixed", {.belief = 0.3}, b);
    tokens_on(results, b);
  }
  return results;
}

const std::filesystem::path golden_file =
    std::filesystem::path(__FILE__).parent_path() / "golden" / "outputs.txt";

}  // namespace

TEST_CASE("Every entry point reproduces the golden outputs bit for bit", "[golden]") {
  const auto results = run_corpus();
  REQUIRE(results.size() > 1000);
  if (const char* path = std::getenv("HADW_GOLDEN_WRITE")) {
    std::ofstream out(path);
    for (const auto& [key, h] : results) out << key << ' ' << std::hex << h << '\n';
    WARN("wrote " << results.size() << " golden hashes to " << path);
    return;
  }
  std::ifstream in(golden_file);
  REQUIRE(in.good());
  std::map<std::string, std::uint64_t> golden;
  std::string key;
  std::string hex;
  while (in >> key >> hex) golden[key] = std::stoull(hex, nullptr, 16);
  REQUIRE(golden.size() == results.size());
  std::size_t differ = 0;
  for (const auto& [k, h] : results) {
    INFO(k);
    REQUIRE(golden.count(k) == 1);
    if (golden.at(k) != h) {
      ++differ;
      UNSCOPED_INFO("differs: " << k);
    }
  }
  CHECK(differ == 0);
}
