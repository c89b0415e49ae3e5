// Forward declarations of hadw's public types, for headers that name them without needing their
// definitions (a trainer's own headers, hadw's interop layers).
#pragma once

#include <cstdint>

namespace hadw {

class error;
class group_layout;
template <class T>
struct grouped_span;

// group statistics
enum class nan_policy : std::uint8_t;
template <class T>
struct response_view;
struct group_stats;
struct batch_stats;
template <class V, bool Extrema, bool Median, bool AbsDev>
struct group_summary;

// advantages
enum class eps_placement : std::uint8_t;
enum class singleton_rule : std::uint8_t;
struct mean_baseline;
struct leave_one_out_baseline;
struct leave_one_out_std_baseline;
struct length_weighted_baseline;
struct batch_centred_baseline;
struct pass_k_baseline;
struct history_weighted_baseline;
struct unit_scale;
struct group_std_scale;
struct batch_std_scale;
struct gpg_scale;
struct mean_scale;
struct mad_scale;
struct kalman_baseline;
struct grpo;
struct dr_grpo;
struct grpo_batch_std;
struct rloo;
struct grpo_leave_one_out;
struct reinforce_pp_baseline;
struct opo;
struct gpg;
struct grpo_passk;
struct ha_dw_authors;
struct maxrl;
struct dgpo;
struct krpo;
struct estimate_options;

// HA-DW weights
struct reward_range;
struct kalman_belief;
struct window_mean_belief;
struct fixed_belief;
class state_writer;
class state_reader;
enum class anchor_timing : std::uint8_t;
enum class observation_kind : std::uint8_t;
struct observation;
struct reweight_options;
struct step_stats;

// The field's difficulty weightings (hadw::weigh) and SPO's per-prompt tracker
struct lead_curve;
struct group_point;
struct focal;
struct lead;
struct question_weights;
struct static_difficulty;
struct length_weights;
struct prompt_phi;
struct weigh_options;
struct weigh_stats;
struct beta_state;
struct tracker_update_options;
class prompt_tracker;
struct spo_options;

namespace backend {
struct cpu;
struct cuda;
template <class Backend>
struct traits;
}  // namespace backend

}  // namespace hadw
