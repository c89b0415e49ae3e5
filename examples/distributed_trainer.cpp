// Data-parallel HA-DW over MPI: N ranks each own a contiguous block of the B prompts of a
// synthetic RL run, score their own rollouts, and keep bit-identical difficulty anchors with one
// small all-reduce per step (hadw::mpi::synchronized_reweight). Every rank also replays the whole
// run in one process (plain hadw::reweight over all B prompts) and checks, every step, that its
// anchor and its weighted advantages equal that single-process run bit for bit.
//
//   mpirun -np 4 ./distributed_trainer [--steps 40] [--prompts 64] [--group 8]
//          [--rewards binary|continuous] [--observation mean|success] [--skew]
//          [--belief kalman|window] [--timing prior|posterior]
//
// --skew gives rank 0 the hardest prompts (local accuracy near 0) and the last rank the easiest
// (near 1): a rank that fed its anchor its own accuracy would drift far from the others.
// Exit status 0 iff every check passed. The last line, "anchor state: <hex>", is the same for any
// number of ranks, which tests/mpi compares across separate runs.
#include <hadw/hadw.hpp>
#include <hadw/interop/mpi.hpp>

#include <mpi.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace {

struct run_config {
  int steps = 40;
  std::int64_t prompts = 64;
  std::int64_t group = 8;
  bool continuous = false;
  bool success_rate = false;
  bool skew = false;
  bool window_belief = false;
  bool posterior = false;
};

/// A counter-based generator: any rank computes the reward of any (step, prompt, rollout)
/// without generating the others, so slices and the whole batch agree by construction.
std::uint64_t mix(std::uint64_t x) {  // splitmix64's finaliser
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}
double uniform(std::uint64_t a, std::uint64_t b, std::uint64_t c, std::uint64_t salt) {
  const std::uint64_t h = mix(mix(mix(mix(salt) ^ a) ^ b) ^ c);
  return static_cast<double>(h >> 11) * 0x1.0p-53;
}

/// The policy's success probability on prompt k at step t: a skill that grows from 0.25 to 0.75
/// over the run, against a per-prompt difficulty (random, or sorted hardest-first with --skew).
double success_probability(const run_config& c, int t, std::int64_t k) {
  const double skill = 0.25 + 0.5 * t / std::max(1, c.steps - 1);
  const double difficulty =
      c.skew ? 8.0 * (0.5 - static_cast<double>(k) / static_cast<double>(c.prompts - 1))
             : 5.0 * (uniform(0, static_cast<std::uint64_t>(k), 0, 1) - 0.5);
  return 1.0 / (1.0 + std::exp(difficulty - std::log(skill / (1.0 - skill))));
}

/// Verifier rewards of prompts [first, last) at step t, group-contiguous. Binary: 0/1.
/// Continuous: a judge's score in [0, 10] (declared as reward_range{0, 10}); normalising divides
/// by 10, so the terms of y_t's sum carry rounding and their order matters.
std::vector<float> rewards_of(const run_config& c, int t, std::int64_t first, std::int64_t last) {
  std::vector<float> r;
  r.reserve(static_cast<std::size_t>((last - first) * c.group));
  for (std::int64_t k = first; k < last; ++k) {
    const double p = success_probability(c, t, k);
    for (std::int64_t i = 0; i < c.group; ++i) {
      const auto tk = static_cast<std::uint64_t>(t), kk = static_cast<std::uint64_t>(k),
                 ii = static_cast<std::uint64_t>(i);
      const bool solved = uniform(tk, kk, ii, 2) < p;
      if (!c.continuous) {
        r.push_back(solved ? 1.0f : 0.0f);
      } else {
        const double credit = uniform(tk, kk, ii, 3);
        r.push_back(static_cast<float>(solved ? 6.0 + 4.0 * credit : 7.0 * credit));
      }
    }
  }
  return r;
}

run_config parse(int argc, char** argv) {
  run_config c;
  for (int a = 1; a < argc; ++a) {
    const std::string_view arg = argv[a];
    const char* next = a + 1 < argc ? argv[a + 1] : "";
    auto is = [&](std::string_view flag, std::string_view value) {
      return arg == flag && std::string_view(next) == value;
    };
    if (arg == "--steps" && a + 1 < argc)
      c.steps = std::stoi(argv[++a]);
    else if (arg == "--prompts" && a + 1 < argc)
      c.prompts = std::stoll(argv[++a]);
    else if (arg == "--group" && a + 1 < argc)
      c.group = std::stoll(argv[++a]);
    else if (is("--rewards", "binary") || is("--rewards", "continuous"))
      c.continuous = argv[++a][0] == 'c';
    else if (is("--observation", "mean") || is("--observation", "success"))
      c.success_rate = argv[++a][0] == 's';
    else if (is("--belief", "kalman") || is("--belief", "window"))
      c.window_belief = argv[++a][0] == 'w';
    else if (is("--timing", "prior") || is("--timing", "posterior"))
      c.posterior = argv[++a][1] == 'o';
    else if (arg == "--skew")
      c.skew = true;
    else
      throw hadw::error("distributed_trainer: unknown or incomplete argument '" + std::string(arg) +
                        "'");
  }
  hadw::detail::require(c.steps >= 1 && c.prompts >= 2 && c.group >= 2,
                        "--steps >= 1, --prompts >= 2, --group >= 2 required");
  return c;
}

template <class Belief>
int train(const run_config& c, hadw::difficulty_anchor<Belief> anchor, MPI_Comm comm) {
  int rank = 0, ranks = 1;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &ranks);
  hadw::detail::require(c.prompts >= ranks, "--prompts >= number of ranks required, got ",
                        c.prompts, " < ", ranks);
  // This rank's prompts: the rank-th contiguous block (sizes differ by at most one).
  const std::int64_t first = c.prompts * rank / ranks, last = c.prompts * (rank + 1) / ranks;
  const auto layout = hadw::group_layout::uniform(last - first, c.group);

  hadw::reweight_options opt;
  opt.lambda_scale = 1.5;
  opt.timing = c.posterior ? hadw::anchor_timing::posterior : hadw::anchor_timing::prior;
  opt.observation =
      c.success_rate ? hadw::observation_kind::success_rate : hadw::observation_kind::mean_reward;
  if (c.continuous) opt.range = {0.0, 10.0};

  // The single-process run over the whole batch, and a "naive" replica that observes only its
  // own rank's accuracy (what happens without the all-reduce).
  hadw::difficulty_anchor<Belief> reference = anchor, naive = anchor;
  const auto full_layout = hadw::group_layout::uniform(c.prompts, c.group);
  std::int64_t mismatches = 0;
  std::vector<double> local_accuracy(static_cast<std::size_t>(ranks));

  for (int t = 0; t < c.steps; ++t) {
    // --- what a trainer does on each rank ---------------------------------------------------
    const std::vector<float> rewards = rewards_of(c, t, first, last);
    std::vector<float> adv(rewards.size());
    hadw::estimate(hadw::grpo{}, layout, std::span<const float>(rewards), std::span<float>(adv));
    const hadw::mpi::synchronized_stats st = hadw::mpi::synchronized_reweight(
        comm, hadw::grouped(std::span<float>(adv), layout),
        hadw::grouped(std::span<const float>(rewards), layout), anchor, opt);
    // ... adv now feeds the policy loss of this rank's micro-batches.

    // --- verification: the single-process run over all prompts ------------------------------
    const std::vector<float> all_rewards = rewards_of(c, t, 0, c.prompts);
    std::vector<float> all_adv(all_rewards.size());
    hadw::estimate(hadw::grpo{}, full_layout, std::span<const float>(all_rewards),
                   std::span<float>(all_adv));
    const hadw::step_stats ref = hadw::reweight(
        hadw::grouped(std::span<float>(all_adv), full_layout),
        hadw::grouped(std::span<const float>(all_rewards), full_layout), reference, opt);
    const bool same_adv =
        std::memcmp(adv.data(), all_adv.data() + first * c.group, adv.size() * sizeof(float)) == 0;
    const bool same_y = std::memcmp(&st.global_accuracy, &ref.batch_accuracy, sizeof(double)) == 0;
    mismatches += !same_adv + !same_y + !(anchor == reference);
    std::vector<float> naive_adv(rewards.size());
    hadw::estimate(hadw::grpo{}, layout, std::span<const float>(rewards),
                   std::span<float>(naive_adv));
    (void)hadw::reweight(hadw::grouped(std::span<float>(naive_adv), layout),
                         hadw::grouped(std::span<const float>(rewards), layout), naive, opt);

    MPI_Gather(&st.batch_accuracy, 1, MPI_DOUBLE, local_accuracy.data(), 1, MPI_DOUBLE, 0, comm);
    if (rank == 0 && (t % 10 == 0 || t == c.steps - 1)) {
      std::printf(
          "step %3d  global y %.4f  prior %.4f -> posterior %.4f  eta %.4f  rank accuracies", t,
          st.global_accuracy, st.prior, st.posterior, st.eta);
      for (double a : local_accuracy) std::printf(" %.3f", a);
      std::printf("%s\n", st.path == hadw::mpi::reduction_path::counts ? "" : "  (ordered values)");
    }
  }

  MPI_Allreduce(MPI_IN_PLACE, &mismatches, 1, MPI_INT64_T, MPI_SUM, comm);
  const int naive_divergent = hadw::mpi::first_divergent_rank(comm, naive);
  hadw::mpi::require_identical_anchors(comm, anchor);  // throws on every rank if they differ
  if (rank == 0) {
    std::printf(
        "%d ranks x %lld-%lld prompts x %lld rollouts, %d steps: %lld mismatches against "
        "the single-process run\n",
        ranks, static_cast<long long>(c.prompts / ranks),
        static_cast<long long>((c.prompts + ranks - 1) / ranks), static_cast<long long>(c.group),
        c.steps, static_cast<long long>(mismatches));
    if (naive_divergent >= 0)
      std::printf(
          "without the all-reduce (each rank observing its own accuracy), rank %d's anchor "
          "would differ from rank 0's\n",
          naive_divergent);
    std::printf("anchor state: ");
    for (std::uint8_t b : anchor.save()) std::printf("%02x", b);
    std::printf("\n");
  }
  return mismatches == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int status = 0;
  try {
    const run_config c = parse(argc, argv);
    status = c.window_belief
                 ? train(c, hadw::difficulty_anchor<hadw::window_mean_belief>{}, MPI_COMM_WORLD)
                 : train(c, hadw::difficulty_anchor<hadw::kalman_belief>{}, MPI_COMM_WORLD);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "distributed_trainer: %s\n", e.what());
    MPI_Abort(MPI_COMM_WORLD, 2);  // an error on one rank must not leave the others waiting
  }
  MPI_Finalize();
  return status;
}
