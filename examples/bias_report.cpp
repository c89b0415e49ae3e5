// bias_report: "how biased is my setting?" — the paper's bias results computed by hadw::theory.
//
//   bias_report [--G 8] [--csv DIR]
//
// Prints (1) the Theorem 2 tables: P(Â < A | S) for p uniform on (0, .125), (0, .25), (0, .5),
// (0, 2/G) and the mirror P(Â > A | S) on the easy intervals, for G = 2..16; (2) the bias curve
// A - E[Â|S] over p for the chosen G (Lemma 2) next to the exact bias of a correct response;
// (3) Theorem 3's feasible lambda_scale interval for a few (p, C); (4) Theorem 4 for Beta and
// truncated-Normal rewards, integral beside Monte Carlo; (5) the bias A - E[w Â | r, S] of each
// difficulty weighting (GRPO, F-GRPO, GRPO-LEAD, DGPO, ROLL, HA-DW) for a correct and a wrong
// response, G = 4, 8, 16, and their credit ratios E[w Â | r, S] / A for the chosen G. With --csv
// DIR it also writes tables.csv, bias_curve.csv, lambda.csv, continuous.csv and weighted.csv there
// (scripts/plot_theory.py).
#include <hadw/theory.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

namespace th = hadw::theory;

namespace {

std::FILE* open_csv(const std::string& dir, const char* name) {
  if (dir.empty()) return nullptr;
  const std::string path = dir + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "w");
  if (!f) std::fprintf(stderr, "cannot write %s\n", path.c_str());
  return f;
}

/// The weightings of section (5), each made for a prompt of success probability p and group G.
struct method {
  const char* name;
  std::function<std::function<double(double, double)>(double p, int G)> make;
};

const std::vector<method>& methods() {
  using w = std::function<double(double, double)>;
  static const std::vector<method> all{
      {"GRPO", [](double, int) -> w { return th::unit_weight{}; }},
      {"F-GRPO g=1", [](double, int) -> w { return th::focal{1.0}; }},
      {"F-GRPO g=2", [](double, int) -> w { return th::focal{2.0}; }},
      {"GRPO-LEAD", [](double, int) -> w { return th::lead{}; }},
      {"DGPO batch@p", [](double p, int G) -> w { return th::dgpo_batch_at(p, G); }},
      {"DGPO U-batch", [](double, int G) -> w { return th::dgpo_uniform_batch(G); }},
      {"ROLL d=1-p", [](double p, int) -> w { return th::roll_static{1.0 - p}; }},
      {"HA-DW C=p l=1",
       [](double p, int) -> w {
         return th::ha_dw{p, 1.0};
       }},
      {"HA-DW C=p l=1.5",
       [](double p, int) -> w {
         return th::ha_dw{p, 1.5};
       }},
      {"HA-DW C=.5 l=1",
       [](double, int) -> w {
         return th::ha_dw{0.5, 1.0};
       }},
      {"HA-DW C=.5 l=1.5",
       [](double, int) -> w {
         return th::ha_dw{0.5, 1.5};
       }},
  };
  return all;
}

/// One table: a row per method and response, a column per p; `ratio` prints E[w Â|r,S] / A.
void print_weighted(int G, bool ratio) {
  const double grid[] = {0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95};
  std::printf("\n  G = %d  %-22s", G, ratio ? "E[wÂ|r,S] / A" : "A - E[wÂ|r,S]");
  for (double p : grid) std::printf(" %6.2f", p);
  std::printf("\n");
  for (bool correct : {true, false})
    for (const auto& m : methods()) {
      std::printf("  %-16s %-7s  ", m.name, correct ? "correct" : "wrong");
      for (double p : grid) {
        const auto w = m.make(p, G);
        std::printf(ratio ? " %6.3f" : " %+6.3f", ratio ? th::credit_ratio(p, G, correct, w)
                                                        : th::weighted_bias(p, G, correct, w));
      }
      std::printf("\n");
    }
}

/// credit_tilt per method over the same p grid.
void print_tilt(int G) {
  const double grid[] = {0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95};
  std::printf("\n  G = %d  %-22s", G, "tilt");
  for (double p : grid) std::printf(" %6.2f", p);
  std::printf("\n");
  for (const auto& m : methods()) {
    std::printf("  %-16s %-7s  ", m.name, "");
    for (double p : grid) std::printf(" %6.3f", th::credit_tilt(p, G, m.make(p, G)));
    std::printf("\n");
  }
}

}  // namespace

int main(int argc, char** argv) {
  int chosen_g = 8;
  std::string csv_dir;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--G") && i + 1 < argc)
      chosen_g = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--csv") && i + 1 < argc)
      csv_dir = argv[++i];
    else {
      std::fprintf(stderr, "usage: %s [--G 8] [--csv DIR]\n", argv[0]);
      return 2;
    }
  }
  if (chosen_g < 2) {
    std::fprintf(stderr, "--G >= 2 required\n");
    return 2;
  }

  // (1) Theorem 2's tables.
  std::printf("Theorem 2 / corollaries: P(underestimate) = P(Â < A | S), p ~ U(0, b)\n");
  std::printf("  and P(overestimate) = P(Â > A | S), p ~ U(1 - b, 1)\n\n");
  std::printf(
      "   G | under (0,.125) (0,.25)  (0,.5)   (0,2/G) | over (.875,1) (.75,1) (.5,1) "
      "(1-2/G,1)\n");
  std::FILE* tables = open_csv(csv_dir, "tables.csv");
  if (tables) std::fprintf(tables, "G,direction,a,b,probability\n");
  for (int G = 2; G <= 16; ++G) {
    const double ends[] = {0.125, 0.25, 0.5, 2.0 / G};
    double under[4], over[4];
    for (int j = 0; j < 4; ++j) {
      const double b = ends[j] < 1.0 ? ends[j] : 1.0;
      under[j] = th::underestimation_probability(G, 0.0, b);
      over[j] = th::overestimation_probability(G, 1.0 - b, 1.0);
      if (tables) {
        std::fprintf(tables, "%d,under,0,%.17g,%.17g\n", G, b, under[j]);
        std::fprintf(tables, "%d,over,%.17g,1,%.17g\n", G, 1.0 - b, over[j]);
      }
    }
    std::printf("  %2d |       %.4f   %.4f   %.4f   %.4f |      %.4f   %.4f  %.4f   %.4f\n", G,
                under[0], under[1], under[2], under[3], over[0], over[1], over[2], over[3]);
  }
  if (tables) std::fclose(tables);

  // (2) The bias curve for the chosen G, and beside it a few other G for the plot.
  std::printf(
      "\nLemma 2 for G = %d: E[p̂|S], bias A - E[Â|S], and the exact bias of a correct "
      "response\n\n",
      chosen_g);
  std::printf("     p    P(S)     E[p̂|S]    A-E[Â|S]  correct-response bias  P(Â<A|S)\n");
  for (double p : {0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99})
    std::printf("  %.2f  %.4f   %.4f    %+.4f    %+.4f                %.4f\n", p,
                th::non_degenerate_probability(p, chosen_g), th::expected_baseline(p, chosen_g),
                th::bias(p, chosen_g), th::correct_response_bias(p, chosen_g),
                th::underestimation_probability_at(p, chosen_g));
  if (std::FILE* curve = open_csv(csv_dir, "bias_curve.csv")) {
    std::fprintf(curve, "G,p,p_s,expected_baseline,bias,correct_response_bias,p_under\n");
    std::vector<int> sizes{2, 4, 8, 16, 32};
    if (std::find(sizes.begin(), sizes.end(), chosen_g) == sizes.end()) sizes.push_back(chosen_g);
    for (int G : sizes)
      for (int j = 1; j < 400; ++j) {
        const double p = j / 400.0;
        std::fprintf(curve, "%d,%.6f,%.17g,%.17g,%.17g,%.17g,%.17g\n", G, p,
                     th::non_degenerate_probability(p, G), th::expected_baseline(p, G),
                     th::bias(p, G), th::correct_response_bias(p, G),
                     th::underestimation_probability_at(p, G));
      }
    std::fclose(curve);
  }

  // (3) Theorem 3: which lambda_scale moves E[Â Phi | S] toward A?
  std::printf(
      "\nTheorem 3 for G = %d: lambda_scale intervals (c_low, c_high) with "
      "|E[Â Phi|S] - A| < |E[Â|S] - A|\n\n",
      chosen_g);
  std::printf(
      "     p    C   | correct response        lambda*  | wrong response          lambda*"
      "  | E[Â Phi|S] at lambda 1.5 (correct) vs A\n");
  std::FILE* lambda_csv = open_csv(csv_dir, "lambda.csv");
  if (lambda_csv) std::fprintf(lambda_csv, "G,p,prior,correct,low,high,lambda_star\n");
  for (double p : {0.05, 0.1, 0.25, 0.4, 0.6, 0.75, 0.9})
    for (double prior : {0.3, 0.5, 0.7}) {
      const auto c = th::feasible_lambda(p, chosen_g, true, prior);
      const auto w = th::feasible_lambda(p, chosen_g, false, prior);
      const double sc = th::unbiased_lambda(p, chosen_g, true, prior);
      const double sw = th::unbiased_lambda(p, chosen_g, false, prior);
      std::printf(
          "  %.2f  %.1f  | (%.3f, %.3f)   %.3f    | (%.3f, %.3f)   %.3f    | %.3f vs %.3f "
          "(unweighted %.3f)\n",
          p, prior, c.low, c.high, sc, w.low, w.high, sw,
          th::expected_weighted_advantage(p, chosen_g, true, prior, 1.5), 1.0 - p,
          th::expected_advantage(p, chosen_g, true));
      if (lambda_csv) {
        std::fprintf(lambda_csv, "%d,%g,%g,1,%.17g,%.17g,%.17g\n", chosen_g, p, prior, c.low,
                     c.high, sc);
        std::fprintf(lambda_csv, "%d,%g,%g,0,%.17g,%.17g,%.17g\n", chosen_g, p, prior, w.low,
                     w.high, sw);
      }
    }
  if (lambda_csv) std::fclose(lambda_csv);

  // (4) Theorem 4: continuous rewards, integral vs Monte Carlo (seed 2026, 100000 groups).
  const double sigma = 0.3;
  std::printf(
      "\nTheorem 4 for G = %d, sigma = %.1f: continuous rewards (integral | Monte Carlo "
      "+- s.e., 100000 groups)\n\n",
      chosen_g, sigma);
  std::printf("  law                    p       P(not S_sigma)        bias A-E[Â|S_sigma]\n");
  std::FILE* cont = open_csv(csv_dir, "continuous.csv");
  if (cont) std::fprintf(cont, "law,G,sigma,mean,p_not_s,bias,mc_bias,mc_se\n");
  auto report = [&](const char* name, const auto& dist, bool print) {
    const auto x = th::continuous_bias(dist, chosen_g, sigma);
    const auto m =
        th::monte_carlo_continuous_bias(dist, chosen_g, sigma, print ? 100000 : 20000, 2026);
    if (print)
      std::printf("  %-20s %.3f   %.4f | %.4f     %+.5f | %+.5f +- %.5f\n", name, x.mean,
                  x.degenerate_probability, m.degenerate_probability.value, x.bias, m.bias.value,
                  m.bias.standard_error);
    if (cont)
      std::fprintf(cont, "\"%s\",%d,%g,%.17g,%.17g,%.17g,%.17g,%.17g\n", name, chosen_g, sigma,
                   x.mean, x.degenerate_probability, x.bias, m.bias.value, m.bias.standard_error);
  };
  for (double p : {0.1, 0.25, 0.5, 0.75, 0.9}) {
    char name[64];
    std::snprintf(name, sizeof name, "Beta(%.1f,%.1f)", 2 * p, 2 * (1 - p));
    report(name, th::beta_distribution(2 * p, 2 * (1 - p)), true);
  }
  for (double mu : {0.1, 0.25, 0.5, 0.75, 0.9}) {
    char name[64];
    std::snprintf(name, sizeof name, "TruncN(%.2f,0.2)", mu);
    report(name, th::truncated_normal(mu, 0.2), true);
  }
  if (cont) {  // dense curves for the plot (Monte Carlo with fewer groups)
    for (int j = 1; j < 40; ++j) {
      const double p = j / 40.0;
      report("beta_k2", th::beta_distribution(2 * p, 2 * (1 - p)), false);
      report("beta_k8", th::beta_distribution(8 * p, 8 * (1 - p)), false);
      report("truncnorm_xi0.2", th::truncated_normal(p, 0.2), false);
    }
    std::fclose(cont);
  }

  // (5) Difficulty weightings: the exact conditional bias of w Â for a correct and a wrong
  // response (own reward in p̂, theory/weighted.hpp). Delta-L is left out: its length weight does
  // not depend on the reward in this model and has mean 1, so its bias is GRPO's.
  std::printf(
      "\nDifficulty weightings: bias A - E[w Â | r, S] (> 0: under-credited), Â = r - p̂, "
      "r in p̂\n");
  for (int G : {4, 8, 16}) print_weighted(G, false);
  std::printf("\nCredit ratio E[w Â | r, S] / A for G = %d (1: unbiased)\n", chosen_g);
  print_weighted(chosen_g, true);
  std::printf(
      "\nTilt = ratio(correct) / ratio(wrong), G = %d (1: credited in proportion; a weight of p "
      "alone leaves GRPO's)\n",
      chosen_g);
  print_tilt(chosen_g);
  if (std::FILE* wcsv = open_csv(csv_dir, "weighted.csv")) {
    std::fprintf(wcsv, "G,method,p,correct,bias,ratio\n");
    for (int G : {4, 8, 16})
      for (const auto& m : methods())
        for (int j = 1; j < 200; ++j) {
          const double p = j / 200.0;
          const auto w = m.make(p, G);
          for (bool correct : {true, false})
            std::fprintf(wcsv, "%d,\"%s\",%.6f,%d,%.17g,%.17g\n", G, m.name, p, correct ? 1 : 0,
                         th::weighted_bias(p, G, correct, w), th::credit_ratio(p, G, correct, w));
        }
    std::fclose(wcsv);
  }
  return 0;
}
