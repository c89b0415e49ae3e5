// hadw/interop/mpi.hpp under mpirun (any number of ranks): every rank runs every test case, each
// on its own slice, and checks its results bit for bit against the single-process run — plain
// hadw::reweight over the whole global batch, which every rank recomputes here.
//
// Collectives must be reached by every rank in the same order even when a check fails, so the
// checks are CHECK (never REQUIRE) until a test case's last collective.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <hadw/hadw.hpp>
#include <hadw/interop/mpi.hpp>

#include <mpi.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <numeric>
#include <span>
#include <string>
#include <vector>

namespace {

int world_rank() {
  int r = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &r);
  return r;
}
int world_size() {
  int n = 0;
  MPI_Comm_size(MPI_COMM_WORLD, &n);
  return n;
}

std::uint64_t mix(std::uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
/// Uniform in [0, 1), a pure function of its keys: every rank generates the same global batch.
double u01(std::uint64_t salt, std::int64_t a, std::int64_t b = 0, std::int64_t c = 0) {
  const std::uint64_t h =
      mix(mix(mix(mix(salt) ^ static_cast<std::uint64_t>(a)) ^ static_cast<std::uint64_t>(b)) ^
          static_cast<std::uint64_t>(c));
  return static_cast<double>(h >> 11) * 0x1.0p-53;
}

template <class T>
bool same_bits(std::span<const T> a, std::span<const T> b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}
bool same_bits(double a, double b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

/// One response of the global batch.
struct response {
  std::int64_t group;
  double reward;
  bool valid;  ///< mask bit
};

/// One step's global batch: groups 0..B-1, each group's responses in the order given. The rank
/// r's slice is the r-th contiguous block of groups, and in each slice the responses may be
/// listed in a shuffled (non-group-contiguous) order, then grouped through from_ids.
struct step_batch {
  std::vector<std::vector<response>> slices;  ///< per rank, in the slice's caller order
};

struct scenario {
  std::int64_t prompts = 24;
  int steps = 25;
  /// (step, prompt, rank owning it, ranks) -> the group's responses
  std::function<std::vector<response>(int, std::int64_t, int, int)> group;
  bool shuffle_within_slice = false;
  hadw::reweight_options options{};
  hadw::mpi::reduction_path expected_path = hadw::mpi::reduction_path::counts;
};

std::int64_t slice_first(std::int64_t prompts, int rank, int ranks) {
  return prompts * rank / ranks;
}

step_batch make_batch(const scenario& s, int t) {
  const int ranks = world_size();
  step_batch b;
  b.slices.resize(static_cast<std::size_t>(ranks));
  for (int r = 0; r < ranks; ++r) {
    auto& slice = b.slices[static_cast<std::size_t>(r)];
    for (std::int64_t k = slice_first(s.prompts, r, ranks);
         k < slice_first(s.prompts, r + 1, ranks); ++k) {
      for (response x : s.group(t, k, r, ranks)) {
        x.group = k;
        slice.push_back(x);
      }
    }
    if (s.shuffle_within_slice) {  // Fisher-Yates with the counter-based generator
      for (std::size_t i = slice.size(); i > 1; --i) {
        const auto j = static_cast<std::size_t>(u01(77, t, r, static_cast<std::int64_t>(i)) *
                                                static_cast<double>(i));
        std::swap(slice[i - 1], slice[j]);
      }
    }
  }
  return b;
}

/// Advantages to be weighted: any finite values will do (reweight works on any estimator's
/// output); a pure function of (step, group, position) so both runs start from the same bits.
template <class T>
std::vector<T> advantages_of(const std::vector<response>& responses, int t, std::int64_t salt) {
  std::vector<T> a;
  for (std::size_t i = 0; i < responses.size(); ++i)
    a.push_back(static_cast<T>(
        2.0 * u01(91, t, responses[i].group, salt + static_cast<std::int64_t>(i)) - 1.0));
  return a;
}

struct flat {
  std::vector<std::int64_t> ids;
  std::vector<std::uint8_t> mask;
  std::vector<double> rewards;
};
flat flatten(std::span<const response> rs) {
  flat f;
  for (const response& x : rs) {
    f.ids.push_back(x.group);
    f.mask.push_back(x.valid ? 1 : 0);
    f.rewards.push_back(x.reward);
  }
  return f;
}

struct step_record {
  double local_accuracy;  ///< this rank's slice
  double global_y;        ///< the single-process run's y_t
};

/// Runs the scenario distributed (synchronized_reweight on this rank's slice) and single-process
/// (hadw::reweight on the concatenation of all slices), checking every step bit for bit.
template <class T, class Belief>
std::vector<step_record> run_against_single_process(const scenario& s,
                                                    const typename Belief::config& cfg = {}) {
  const int rank = world_rank();
  hadw::difficulty_anchor<Belief> anchor(cfg), reference(cfg);
  std::vector<step_record> record;
  for (int t = 0; t < s.steps; ++t) {
    const step_batch b = make_batch(s, t);
    std::vector<response> all;
    std::int64_t offset = 0, my_offset = 0;
    for (int r = 0; r < world_size(); ++r) {
      if (r == rank) my_offset = offset;
      const auto& sl = b.slices[static_cast<std::size_t>(r)];
      all.insert(all.end(), sl.begin(), sl.end());
      offset += static_cast<std::int64_t>(sl.size());
    }
    const auto& mine = b.slices[static_cast<std::size_t>(rank)];

    // Distributed: this rank's slice only.
    const flat f = flatten(mine);
    const auto layout = hadw::group_layout::from_ids(f.ids);
    std::vector<T> rewards(f.rewards.begin(), f.rewards.end());
    std::vector<T> adv = advantages_of<T>(mine, t, my_offset);
    hadw::reweight_options o = s.options;
    o.mask = f.mask;
    const hadw::mpi::synchronized_stats st = hadw::mpi::synchronized_reweight(
        MPI_COMM_WORLD, hadw::grouped(std::span<T>(adv), layout),
        hadw::grouped(std::span<const T>(rewards), layout), anchor, o);

    // Single process: the whole batch.
    const flat g = flatten(all);
    const auto full = hadw::group_layout::from_ids(g.ids);
    std::vector<T> all_rewards(g.rewards.begin(), g.rewards.end());
    std::vector<T> all_adv;
    for (int r = 0, off = 0; r < world_size(); ++r) {
      const auto& sl = b.slices[static_cast<std::size_t>(r)];
      const auto a = advantages_of<T>(sl, t, off);
      all_adv.insert(all_adv.end(), a.begin(), a.end());
      off += static_cast<int>(sl.size());
    }
    hadw::reweight_options go = s.options;
    go.mask = g.mask;
    const hadw::step_stats ref =
        hadw::reweight(hadw::grouped(std::span<T>(all_adv), full),
                       hadw::grouped(std::span<const T>(all_rewards), full), reference, go);

    INFO("step " << t << ", rank " << rank << " of " << world_size());
    CHECK(same_bits(std::span<const T>(adv), std::span<const T>(all_adv).subspan(
                                                 static_cast<std::size_t>(my_offset), adv.size())));
    CHECK(anchor.save() == reference.save());
    CHECK(same_bits(st.global_accuracy, ref.batch_accuracy));
    CHECK(same_bits(st.prior, ref.prior));
    CHECK(same_bits(st.weighting_belief, ref.weighting_belief));
    CHECK(same_bits(st.posterior, ref.posterior));
    CHECK(st.global_correct == ref.correct);
    CHECK(st.global_total == ref.total);
    CHECK(st.step == ref.step);
    CHECK(st.world_size == world_size());
    CHECK(st.path == s.expected_path);
    CHECK(hadw::mpi::anchors_identical(MPI_COMM_WORLD, anchor));
    record.push_back({st.batch_accuracy, ref.batch_accuracy});
  }
  return record;
}

/// A group of `size` responses, each solved with probability p (reward 1, else 0).
std::vector<response> binary_group(int t, std::int64_t k, std::int64_t size, double p) {
  std::vector<response> g;
  for (std::int64_t i = 0; i < size; ++i) g.push_back({k, u01(3, t, k, i) < p ? 1.0 : 0.0, true});
  return g;
}

std::vector<double> gather_to_all(double x) {
  std::vector<double> all(static_cast<std::size_t>(world_size()));
  MPI_Allgather(&x, 1, MPI_DOUBLE, all.data(), 1, MPI_DOUBLE, MPI_COMM_WORLD);
  return all;
}

}  // namespace

TEMPLATE_TEST_CASE(
    "binary rewards: every rank's anchor and weighted advantages equal the "
    "single-process run bit for bit",
    "[mpi][counts]", float, double) {
  scenario s;
  s.group = [](int t, std::int64_t k, int, int) {
    return binary_group(t, k, 8, 0.15 + 0.7 * u01(1, k) * (0.5 + t / 50.0));
  };
  (void)run_against_single_process<TestType, hadw::kalman_belief>(s);
}

TEST_CASE("ranks whose local accuracies range from 0 to 1 still hold identical anchors",
          "[mpi][counts][skew]") {
  // Rank r's prompts are solved with probability r / (P - 1): rank 0 sees accuracy exactly 0,
  // the last rank exactly 1.
  scenario s;
  s.group = [](int t, std::int64_t k, int rank, int ranks) {
    return binary_group(t, k, 8, ranks == 1 ? 0.5 : static_cast<double>(rank) / (ranks - 1));
  };
  const std::vector<step_record> mine = run_against_single_process<float, hadw::kalman_belief>(s);
  const std::vector<double> first_step = gather_to_all(mine.front().local_accuracy);
  if (world_size() > 1) {
    CHECK(first_step.front() == 0.0);
    CHECK(first_step.back() == 1.0);
  }

  // Without the all-reduce, each rank's anchor follows its own accuracy and they part ways.
  hadw::difficulty_anchor<> naive;
  for (const step_record& r : mine) naive.observe(r.local_accuracy);
  CHECK(hadw::mpi::first_divergent_rank(MPI_COMM_WORLD, naive) == (world_size() > 1 ? 1 : -1));
}

TEST_CASE(
    "continuous rewards under mean_reward: gathered in rank order, bit-identical to the "
    "sequential single-process sum",
    "[mpi][ordered]") {
  scenario s;
  s.prompts = 150;  // several of the CPU backend's fixed blocks of groups, split across ranks
  s.steps = 12;
  s.options.range = {-2.0, 3.0};
  s.expected_path = hadw::mpi::reduction_path::ordered_values;
  s.group = [](int t, std::int64_t k, int, int) {
    std::vector<response> g;
    for (std::int64_t i = 0; i < 8; ++i) g.push_back({k, -2.0 + 5.0 * u01(5, t, k, i), true});
    return g;
  };
  const std::vector<step_record> steps = run_against_single_process<double, hadw::kalman_belief>(s);

  // The data must exercise association: somewhere, adding up per-rank partial sums (what an
  // MPI_Allreduce(MPI_SUM) of doubles does, in rank order at best) misses the single process's
  // y_t in the last bits — the failure the gathered path exists to avoid.
  if (world_size() > 1) {
    int differs = 0;
    for (int t = 0; t < s.steps; ++t) {
      double partials = 0.0;
      std::int64_t total = 0;
      for (const auto& slice : make_batch(s, t).slices) {
        double part = 0.0;
        for (const response& x : slice) part += (x.reward + 2.0) / 5.0;
        partials += part;
        total += static_cast<std::int64_t>(slice.size());
      }
      differs += !same_bits(partials / static_cast<double>(total),
                            steps[static_cast<std::size_t>(t)].global_y);
    }
    CHECK(differs > 0);
  }
}

TEST_CASE("success_rate on continuous rewards needs only the integer counts", "[mpi][counts]") {
  scenario s;
  s.options.observation = hadw::observation_kind::success_rate;
  s.options.success_threshold = 0.7;
  s.group = [](int t, std::int64_t k, int, int) {
    std::vector<response> g;
    for (std::int64_t i = 0; i < 6; ++i) g.push_back({k, u01(6, t, k, i), true});
    return g;
  };
  (void)run_against_single_process<float, hadw::kalman_belief>(s);
}

TEST_CASE("posterior timing with window_mean_belief (the authors' code) and warm-up steps",
          "[mpi][posterior]") {
  scenario s;
  s.options.timing = hadw::anchor_timing::posterior;
  s.options.warmup_steps = 3;
  s.group = [](int t, std::int64_t k, int rank, int ranks) {
    return binary_group(t, k, 4, (rank + 0.5) / ranks);
  };
  (void)run_against_single_process<float, hadw::window_mean_belief>(
      s, hadw::window_mean_belief::config{.window = 4});
}

TEST_CASE(
    "ragged groups, shuffled responses, masks, unscorable NaNs and a rank whose responses "
    "are all masked",
    "[mpi][ordered][ragged]") {
  scenario s;
  s.prompts = 13;
  s.shuffle_within_slice = true;
  s.options.nan = hadw::nan_policy::unscorable;
  s.expected_path = hadw::mpi::reduction_path::ordered_values;
  s.group = [](int t, std::int64_t k, int rank, int ranks) {
    const auto size = 1 + static_cast<std::int64_t>(9 * u01(8, t, k));
    const bool rank_masked_out = t % 4 == 1 && rank == t % ranks && ranks > 1;
    std::vector<response> g;
    for (std::int64_t i = 0; i < size; ++i) {
      const double v = u01(9, t, k, i);
      const double reward = v < 0.05 ? NAN : (v < 0.5 ? 1.0 : 0.25 * (1 + i % 3));
      g.push_back({k, reward, !rank_masked_out && u01(10, t, k, i) < 0.85});
    }
    return g;
  };
  (void)run_against_single_process<float, hadw::kalman_belief>(s);
}

TEST_CASE("bad input on one rank makes every rank throw, and no rank writes anything",
          "[mpi][errors]") {
  const int rank = world_rank(), last = world_size() - 1;
  const auto layout = hadw::group_layout::uniform(2, 4);
  std::vector<float> rewards{0, 1, 1, 0, 1, 1, 1, 0};
  if (rank == last) rewards[5] = 2.0f;  // outside reward_range [0, 1]
  std::vector<float> adv{-1, 1, 1, -1, 0.5f, 0.5f, 0.5f, -1.5f};
  const std::vector<float> adv_before = adv;
  hadw::difficulty_anchor<> anchor;
  anchor.observe(0.3);
  const auto state_before = anchor.save();

  std::string message;
  try {
    (void)hadw::mpi::synchronized_reweight(
        MPI_COMM_WORLD, hadw::grouped(std::span<float>(adv), layout),
        hadw::grouped(std::span<const float>(rewards), layout), anchor);
  } catch (const hadw::error& e) {
    message = e.what();
  }
  INFO("rank " << rank << ": " << message);
  if (rank == last) {
    CHECK(message.find("rewards[5]") != std::string::npos);
    CHECK(message.find("reward_range") != std::string::npos);
  } else {
    CHECK(message.find("1 of " + std::to_string(world_size()) + " ranks had invalid input") !=
          std::string::npos);
  }
  CHECK(adv == adv_before);
  CHECK(anchor.save() == state_before);

  // The ranks are still in step: the next (valid) call goes through on all of them.
  rewards[5] = 1.0f;
  const auto st = hadw::mpi::synchronized_reweight(
      MPI_COMM_WORLD, hadw::grouped(std::span<float>(adv), layout),
      hadw::grouped(std::span<const float>(rewards), layout), anchor);
  CHECK(st.global_total == 8 * world_size());
  CHECK(st.global_correct == 5 * world_size());
  CHECK(anchor.step() == 2);
}

TEST_CASE("a global batch with no valid response is an error on every rank", "[mpi][errors]") {
  const auto layout = hadw::group_layout::uniform(1, 3);
  const std::vector<float> rewards{1, 0, 1};
  std::vector<float> adv{1, -1, 1};
  const std::vector<std::uint8_t> mask{0, 0, 0};
  hadw::reweight_options o;
  o.mask = mask;
  hadw::difficulty_anchor<> anchor;
  std::string message;
  try {
    (void)hadw::mpi::synchronized_reweight(
        MPI_COMM_WORLD, hadw::grouped(std::span<float>(adv), layout),
        hadw::grouped(std::span<const float>(rewards), layout), anchor, o);
  } catch (const hadw::error& e) {
    message = e.what();
  }
  CHECK(message.find("no valid response in the global batch") != std::string::npos);
  CHECK(anchor.step() == 0);
}

TEST_CASE("the anchor check names the first rank whose state differs from rank 0's",
          "[mpi][check]") {
  const int rank = world_rank(), ranks = world_size();
  hadw::difficulty_anchor<> anchor;
  anchor.observe(0.25);
  anchor.observe(3, 4);
  CHECK(hadw::mpi::first_divergent_rank(MPI_COMM_WORLD, anchor) == -1);
  CHECK(hadw::mpi::anchors_identical(MPI_COMM_WORLD, anchor));
  CHECK_NOTHROW(hadw::mpi::require_identical_anchors(MPI_COMM_WORLD, anchor));
  CHECK(hadw::mpi::state_hash(anchor) == hadw::detail::fnv1a64(anchor.save()));

  // Ranks 2 and up (or the last rank, with fewer) drift by one extra observation.
  const int drifting = std::min(2, ranks - 1);
  hadw::difficulty_anchor<> drifted = anchor;
  if (rank >= drifting && drifting > 0) drifted.observe(0.5);
  const int expected = drifting > 0 ? drifting : -1;
  CHECK(hadw::mpi::first_divergent_rank(MPI_COMM_WORLD, drifted) == expected);
  CHECK(hadw::mpi::anchors_identical(MPI_COMM_WORLD, drifted) == (expected < 0));
  std::string message;
  try {
    hadw::mpi::require_identical_anchors(MPI_COMM_WORLD, drifted);
  } catch (const hadw::error& e) {
    message = e.what();
  }
  if (expected >= 0)
    CHECK(message.find("rank " + std::to_string(expected) + "'s") != std::string::npos);
  else
    CHECK(message.empty());
}

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  const int failed = Catch::Session().run(argc, argv);
  int worst = 0;
  MPI_Allreduce(&failed, &worst, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
  MPI_Finalize();
  return worst == 0 ? 0 : 1;
}
