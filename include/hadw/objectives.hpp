// hadw objectives umbrella: the policy losses HA-DW plugs into (paper eq. 17).
//
//   objectives/ratio.hpp             token and sequence (GSPO) importance ratios
//   objectives/clip.hpp              clip_range, dual-clip, the per-token clipped surrogate
//   objectives/aggregation.hpp       loss_agg modes (verl's agg_loss), data-parallel counts
//   objectives/policy_loss.hpp       grpo/dapo/gspo_objective, policy_batch, hadw::policy_loss
//   objectives/dynamic_sampling.hpp  DAPO dynamic sampling and soft overlong punishment
#pragma once

#include <hadw/objectives/aggregation.hpp>
#include <hadw/objectives/clip.hpp>
#include <hadw/objectives/dynamic_sampling.hpp>
#include <hadw/objectives/policy_loss.hpp>
#include <hadw/objectives/ratio.hpp>
