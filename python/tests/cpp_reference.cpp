// The C++ side of python/tests/test_api.py::test_python_equals_cpp: reads a batch from stdin,
// runs the same calls through the C++ API and prints every result as hex floats (bit-exact).
//   stdin: num_groups group_size, then num_groups * group_size float32 rewards (%.9g),
//          then as many int64 lengths
//   stdout: one line per result: "<name> <%a> <%a> ..."
#include <hadw/hadw.hpp>

#include <cstdint>
#include <cstdio>
#include <iostream>
#include <span>
#include <string>
#include <vector>

namespace {

void print(const std::string& name, const std::vector<float>& v) {
  std::printf("%s", name.c_str());
  for (float x : v) std::printf(" %a", static_cast<double>(x));
  std::printf("\n");
}

template <class E>
void run(const std::string& name, const E& est, const hadw::group_layout& layout,
         const std::vector<float>& r, const std::vector<std::int64_t>& lengths) {
  std::vector<float> out(r.size());
  hadw::estimate(est, layout, std::span<const float>(r), std::span<float>(out),
                 {.lengths = lengths});
  print(name, out);
}

}  // namespace

int main() {
  std::int64_t B = 0, G = 0;
  std::cin >> B >> G;
  std::vector<float> r(static_cast<std::size_t>(B * G));
  std::vector<std::int64_t> lengths(r.size());
  for (float& x : r) std::cin >> x;
  for (auto& l : lengths) std::cin >> l;
  const auto layout = hadw::group_layout::uniform(B, G);

  run("grpo", hadw::grpo{}, layout, r, lengths);
  run("dr_grpo", hadw::dr_grpo{}, layout, r, lengths);
  run("grpo_batch_std", hadw::grpo_batch_std{}, layout, r, lengths);
  run("rloo", hadw::rloo{}, layout, r, lengths);
  run("reinforce_pp_baseline", hadw::reinforce_pp_baseline{}, layout, r, lengths);
  run("opo", hadw::opo{}, layout, r, lengths);
  run("gpg", hadw::gpg{}, layout, r, lengths);
  run("grpo_passk", hadw::grpo_passk{}, layout, r, lengths);
  run("grpo_leave_one_out", hadw::grpo_leave_one_out{}, layout, r, lengths);
  run("ha_dw_authors", hadw::ha_dw_authors{}, layout, r, lengths);
  run("maxrl", hadw::maxrl{}, layout, r, lengths);
  run("dgpo", hadw::dgpo{}, layout, r, lengths);
  run("krpo", hadw::krpo{}, layout, r, lengths);
  run("verl_grpo", hadw::compat::verl::grpo, layout, r, lengths);
  run("trl_grpo", hadw::compat::trl::grpo, layout, r, lengths);

  // Three HA-DW steps with the paper's anchor on the GRPO advantages (the batch reused).
  hadw::difficulty_anchor<> anchor;
  for (int step = 0; step < 3; ++step) {
    std::vector<float> adv(r.size());
    hadw::estimate(hadw::grpo{}, layout, std::span<const float>(r), std::span<float>(adv));
    hadw::reweight_options opt;
    opt.lambda_scale = 1.3;
    (void)hadw::reweight(hadw::grouped(std::span<float>(adv), layout),
                         hadw::grouped(std::span<const float>(r), layout), anchor, opt);
    print("reweight" + std::to_string(step), adv);
  }
  std::printf("anchor");
  for (std::uint8_t b : anchor.save()) std::printf(" %02x", b);
  std::printf("\n");
}
