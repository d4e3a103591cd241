"""Causal audio encoder: standardised log-mel at 100 Hz -> one feature vector per 50 Hz frame.

Every convolution pads on the left only, so an output never looks ahead. The input layer has
stride 2 and its window *ends* at mel frame 2t + 1, the last one complete when animation
frame t ends; residual dilated convolutions at 50 Hz then widen the receptive field to a few
hundred ms (kernel 3, dilations 1, 2, 4, 8: 40 ms + 30 frames = 640 ms).

Streaming: each convolution's state is the tail of its input it still needs (kernel - 1
samples at its dilation, or kernel - 2 mel frames for the strided layer), time-major. Zero
tails are the whole-clip zero padding, so block-by-block equals whole by construction, which
a test checks.
"""

from dataclasses import dataclass

import torch
from torch import Tensor, nn

from app.model.config import GELU_APPROXIMATION, ModelConfig


_STREAMING_OUTPUTS = 4  # up to this many output frames, `CausalConv.convolve` gathers taps


class CausalConv(nn.Module):
    """A 1-D convolution over time-major (B, T, C) whose history comes from an explicit tail.

    The weights are an `nn.Conv1d`'s (checkpoints name them so); the encoder keeps its
    activations time-major, so the per-frame layer norms and the 1x1 mixes need no transposes.
    """

    def __init__(self, c_in: int, c_out: int, kernel: int, dilation: int = 1,
                 stride: int = 1, history: int | None = None):
        super().__init__()
        self.conv = nn.Conv1d(c_in, c_out, kernel, stride=stride, dilation=dilation)
        # the strided layer keeps kernel - 2 frames so its window ends on an odd mel frame
        self.history = dilation * (kernel - 1) if history is None else history

    def zero_tail(self, batch: int, like: Tensor) -> Tensor:
        return like.new_zeros(batch, self.history, self.conv.in_channels)

    def forward(self, x: Tensor, tail: Tensor) -> tuple[Tensor, Tensor]:
        extended = torch.cat([tail, x], dim=1)
        new_tail = extended[:, extended.shape[1] - self.history:]
        return self.convolve(extended), new_tail

    def convolve(self, x: Tensor) -> Tensor:
        """The convolution of (B, T, C_in) into (B, T', C_out); for the few outputs of a
        streaming step, one matrix product over the gathered taps (torch's dilated CPU
        convolution pays heavily per call)."""
        conv = self.conv
        dilation, kernel, stride = conv.dilation[0], conv.kernel_size[0], conv.stride[0]
        span = dilation * (kernel - 1) + 1
        outputs = (x.shape[1] - span) // stride + 1
        if outputs > _STREAMING_OUTPUTS:
            return conv(x.transpose(1, 2)).transpose(1, 2)
        taps = x.unfold(1, span, stride)[..., ::dilation]  # (B, outputs, C_in, kernel)
        flat = taps.reshape(x.shape[0], outputs, -1)  # channel-major, as the weight is
        return nn.functional.linear(flat, conv.weight.reshape(conv.out_channels, -1), conv.bias)


class ResidualBlock(nn.Module):
    def __init__(self, channels: int, kernel: int, dilation: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels)  # per frame over channels: still causal
        self.conv = CausalConv(channels, channels, kernel, dilation)
        self.mix = nn.Conv1d(channels, channels, 1)  # applied as a linear layer per frame

    def forward(self, x: Tensor, tail: Tensor) -> tuple[Tensor, Tensor]:
        h, new_tail = self.conv(self.norm(x), tail)
        h = nn.functional.gelu(h, approximate=GELU_APPROXIMATION)
        mixed = nn.functional.linear(h, self.mix.weight[..., 0], self.mix.bias)
        return x + mixed, new_tail


@dataclass(frozen=True)
class EncoderState:
    tails: tuple[Tensor, ...]  # one per convolution, input side, in data-flow order


class AudioEncoder(nn.Module):
    """`forward(mel (B, 2T, 80), state) -> (features (B, T, C), state)`."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        channels = config.audio_channels
        self.input = CausalConv(config.mel_bins, channels, config.audio_first_kernel,
                                stride=2, history=config.audio_first_kernel - 2)
        self.blocks = nn.ModuleList(
            ResidualBlock(channels, config.audio_kernel, d) for d in config.audio_dilations)
        self.out_norm = nn.LayerNorm(channels)

    def initial_state(self, batch: int, like: Tensor) -> EncoderState:
        convs = [self.input] + [block.conv for block in self.blocks]
        return EncoderState(tuple(conv.zero_tail(batch, like) for conv in convs))

    def forward(self, mel: Tensor, state: EncoderState | None = None
                ) -> tuple[Tensor, EncoderState]:
        if mel.shape[1] % 2:
            raise ValueError("the encoder takes whole animation frames: an even number of mel frames")
        state = state or self.initial_state(mel.shape[0], mel)
        x, input_tail = self.input(mel, state.tails[0])
        tails = [input_tail]
        for block, tail in zip(self.blocks, state.tails[1:]):
            x, new_tail = block(x, tail)
            tails.append(new_tail)
        return self.out_norm(x), EncoderState(tuple(tails))
