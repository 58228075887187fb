// Convolution on simulated devices. ATen sends convolutions on a backend it
// does not know to the *_overrideable ops, which have no CPU kernel for the
// fallback to run; these run ATen's CPU convolution on host aliases instead.
#include "accelerator_internal.h"

namespace shardsim::sim::detail {

at::Tensor convolution_overrideable(const at::Tensor& input, const at::Tensor& weight,
                                    const c10::optional<at::Tensor>& bias, at::IntArrayRef stride,
                                    at::IntArrayRef padding, at::IntArrayRef dilation,
                                    bool transposed, at::IntArrayRef output_padding,
                                    int64_t groups) {
  DeviceArgs args;
  const at::Tensor host_input = args.to_host(input, /*cpu_allowed=*/false);
  const at::Tensor host_weight = args.to_host(weight, false);
  const c10::optional<at::Tensor> host_bias =
      bias ? c10::optional<at::Tensor>(args.to_host(*bias, false)) : c10::nullopt;
  args.check_devices("aten::convolution_overrideable");
  const at::Tensor result = at::convolution(host_input, host_weight, host_bias, stride, padding,
                                            dilation, transposed, output_padding, groups);
  return args.to_device(result, /*owner_refs=*/1);
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> convolution_backward_overrideable(
    const at::Tensor& grad_output, const at::Tensor& input, const at::Tensor& weight,
    at::IntArrayRef stride, at::IntArrayRef padding, at::IntArrayRef dilation, bool transposed,
    at::IntArrayRef output_padding, int64_t groups, std::array<bool, 3> output_mask) {
  DeviceArgs args;
  const at::Tensor host_grad = args.to_host(grad_output, /*cpu_allowed=*/false);
  const at::Tensor host_input = args.to_host(input, false);
  const at::Tensor host_weight = args.to_host(weight, false);
  args.check_devices("aten::convolution_backward_overrideable");
  // The bias has one entry per output channel.
  const std::vector<int64_t> bias_sizes{grad_output.size(1)};
  const auto grads = at::convolution_backward(
      host_grad, host_input, host_weight,
      output_mask[2] ? at::OptionalIntArrayRef(bias_sizes) : c10::nullopt, stride, padding,
      dilation, transposed, output_padding, groups, output_mask);
  return {args.to_device(std::get<0>(grads), 1), args.to_device(std::get<1>(grads), 1),
          args.to_device(std::get<2>(grads), 1)};
}

}  // namespace shardsim::sim::detail
