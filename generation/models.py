"""The benchmark networks, with every activation replaced by ``actbench.nn.Activation(name)``.

* ``all_cnn_c``: All-CNN-C (Springenberg et al. 2015), 9 conv layers; weights per layer incl. bias
  2688, 83040, 83040, 166080, 331968, 331968, 331968, 37056, 1930 (docs/generation.md).
* ``resnet_cifar``: ResNet-n for CIFAR (He et al. 2016, §4.2): 3 stages of (n-2)/6 basic blocks with
  16/32/64 channels, identity shortcuts with zero-padding (option A); ResNet-56 has 853,018 weights
  for 10 classes.
* ``mobilevitv2``: MobileViTv2 (Mehta & Rastegari 2022) with width multiplier 0.5 by default; the
  activation of the stem, of every inverted-residual block, of the local representation and of the
  transformer MLPs is replaced, and (``replace_attention_relu=True``, our reading of "every
  activation") so is the ReLU on the values of the separable self-attention.
* ``resnet50``: ResNet-50 (He et al. 2016, bottleneck v1.5: stride on the 3x3 conv), 25,557,032 weights
  for 1000 classes, for the transfer experiment.
* ``coatnet``: CoAtNet (Dai et al. 2021), C-C-T-T: a conv stem, two stages of MBConv blocks with
  squeeze-excitation, two stages of transformer blocks with 2-D relative attention; CoAtNet-0 by
  default (depths 2/2/3/5/2, channels 64/96/192/384/768). Every GELU of the original is replaced,
  including the one inside squeeze-excitation (its sigmoid gate is a gate, not an activation, and stays).

Every builder takes ``activation`` (a function name) and ``num_classes``; ``width`` scales channel
counts for tests on a CPU. :data:`MODELS` is the registry.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import nn

from actbench.nn import Activation
from generation.dropout import Dropout

__all__ = ["MODELS", "all_cnn_c", "digits_cnn", "count_parameters", "mobilevitv2", "register_model", "resnet50", "resnet_cifar", "coatnet"]

MODELS: dict[str, Callable[..., nn.Module]] = {}


def register_model(name: str):
    """Decorator: add a model builder to :data:`MODELS` (a duplicate name raises)."""

    def deco(fn):
        if name in MODELS:
            raise ValueError(f"model {name!r} is already registered")
        MODELS[name] = fn
        return fn

    return deco


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _ch(c: int, width: float) -> int:
    return max(1, int(round(c * width)))


# --- All-CNN-C -------------------------------------------------------------------------------


@register_model("all_cnn_c")
def all_cnn_c(activation: str = "relu(x)", *, num_classes: int = 10, in_channels: int = 3, width: float = 1.0,
              dropout: bool = True, final_activation: bool = True) -> nn.Module:
    """All-CNN-C. Springenberg et al. apply dropout 0.2 to the input and 0.5 after each strided conv,
    and an activation after every conv including the last 1x1 (``final_activation``)."""
    c1, c2 = _ch(96, width), _ch(192, width)
    spec = [  # (in, out, kernel, stride, padding)
        (in_channels, c1, 3, 1, 1), (c1, c1, 3, 1, 1), (c1, c1, 3, 2, 1),
        (c1, c2, 3, 1, 1), (c2, c2, 3, 1, 1), (c2, c2, 3, 2, 1),
        (c2, c2, 3, 1, 0), (c2, c2, 1, 1, 0), (c2, num_classes, 1, 1, 0),
    ]
    layers: dict[str, nn.Module] = {"drop_in": Dropout(0.2)} if dropout else {}
    for i, (cin, cout, k, s, p) in enumerate(spec, start=1):
        layers[f"conv{i}"] = nn.Conv2d(cin, cout, k, stride=s, padding=p)
        if i < len(spec) or final_activation:
            layers[f"act{i}"] = Activation(activation)
        if dropout and s == 2:
            layers[f"drop{i}"] = Dropout(0.5)
    layers["pool"] = nn.AdaptiveAvgPool2d(1)
    layers["flatten"] = nn.Flatten()
    return nn.Sequential(OrderedDict(layers))


# --- the small CPU benchmark ------------------------------------------------------------------


@register_model("digits_cnn")
def digits_cnn(activation: str = "relu(x)", *, num_classes: int = 10, in_channels: int = 1,
               width: float = 1.0) -> nn.Module:
    """A small CNN for 8x8 digits: two convs and two dense layers, an activation after each but the last.
    Weights incl. bias: 160, 4640, 32832, 650 (FIM feature 0 + 45 + 327 + 5 = 377 bins)."""
    c1, c2, h = _ch(16, width), _ch(32, width), _ch(64, width)
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(in_channels, c1, 3, padding=1)), ("act1", Activation(activation)),
        ("conv2", nn.Conv2d(c1, c2, 3, stride=2, padding=1)), ("act2", Activation(activation)),
        ("flatten", nn.Flatten()),
        ("fc1", nn.Linear(c2 * 16, h)), ("act3", Activation(activation)),
        ("fc2", nn.Linear(h, num_classes)),
    ]))


# --- ResNet for CIFAR --------------------------------------------------------------------------


class _BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, activation: str) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.act1 = Activation(activation)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.act2 = Activation(activation)
        self.stride, self.pad = stride, cout - cin

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, ::self.stride, ::self.stride]
        if self.pad:  # option A: zero channels, no weights
            x = nn.functional.pad(x, (0, 0, 0, 0, self.pad // 2, self.pad - self.pad // 2))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.act2(out + self.shortcut(x))


@register_model("resnet_cifar")
def resnet_cifar(activation: str = "relu(x)", *, depth: int = 56, num_classes: int = 10, in_channels: int = 3,
                 width: float = 1.0) -> nn.Module:
    """ResNet-``depth`` for CIFAR (depth = 6n + 2)."""
    if (depth - 2) % 6:
        raise ValueError(f"CIFAR ResNet depth must be 6n+2 (20, 32, 44, 56, 110, ...), got {depth}")
    n = (depth - 2) // 6
    widths = [_ch(16, width), _ch(32, width), _ch(64, width)]
    layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False), nn.BatchNorm2d(widths[0]),
                               Activation(activation)]
    cin = widths[0]
    for stage, cout in enumerate(widths):
        for b in range(n):
            layers.append(_BasicBlock(cin, cout, 2 if stage > 0 and b == 0 else 1, activation))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes)]
    return nn.Sequential(*layers)


# --- ResNet-50 -----------------------------------------------------------------------------------


class _Bottleneck(nn.Module):
    def __init__(self, cin: int, mid: int, stride: int, activation: str) -> None:
        super().__init__()
        cout = mid * 4
        self.body = nn.Sequential(
            nn.Conv2d(cin, mid, 1, bias=False), nn.BatchNorm2d(mid), Activation(activation),
            nn.Conv2d(mid, mid, 3, stride, 1, bias=False), nn.BatchNorm2d(mid), Activation(activation),
            nn.Conv2d(mid, cout, 1, bias=False), nn.BatchNorm2d(cout),
        )
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        self.act = Activation(activation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.body(x) + (x if self.down is None else self.down(x)))


@register_model("resnet50")
def resnet50(activation: str = "relu(x)", *, num_classes: int = 1000, in_channels: int = 3,
             width: float = 1.0) -> nn.Module:
    """ResNet-50 for ImageNet-size inputs."""
    stem = _ch(64, width)
    layers: list[nn.Module] = [nn.Conv2d(in_channels, stem, 7, 2, 3, bias=False), nn.BatchNorm2d(stem),
                               Activation(activation), nn.MaxPool2d(3, 2, 1)]
    cin = stem
    for stage, (blocks, mid) in enumerate(zip((3, 4, 6, 3), (64, 128, 256, 512))):
        mid = _ch(mid, width)
        for b in range(blocks):
            layers.append(_Bottleneck(cin, mid, 2 if stage > 0 and b == 0 else 1, activation))
            cin = mid * 4
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, num_classes)]
    return nn.Sequential(*layers)


# --- MobileViTv2 -----------------------------------------------------------------------------------


def _conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, activation: str | None = None):
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                               nn.BatchNorm2d(cout)]
    if activation is not None:
        layers.append(Activation(activation))
    return nn.Sequential(*layers)


class _InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand, 3x3 depthwise, 1x1 project (no activation after the projection)."""

    def __init__(self, cin: int, cout: int, stride: int, expand: int, activation: str) -> None:
        super().__init__()
        hidden = int(round(cin * expand))
        self.block = nn.Sequential(
            _conv_bn(cin, hidden, 1, activation=activation),
            _conv_bn(hidden, hidden, 3, stride, groups=hidden, activation=activation),
            _conv_bn(hidden, cout, 1),
        )
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.block(x)
        return x + y if self.residual else y


class _LinearSelfAttention(nn.Module):
    """Separable self-attention: context scores from a 1-channel query, softmax over patches."""

    def __init__(self, d: int, activation: str | None) -> None:
        super().__init__()
        self.qkv = nn.Conv2d(d, 1 + 2 * d, 1)
        self.value_act = Activation(activation) if activation else nn.ReLU()
        self.out = nn.Conv2d(d, d, 1)
        self.d = d

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, d, P, N) patches x tokens
        q, k, v = torch.split(self.qkv(x), [1, self.d, self.d], dim=1)
        scores = torch.softmax(q, dim=-1)
        context = (k * scores).sum(dim=-1, keepdim=True)
        return self.out(self.value_act(v) * context)


class _TransformerLayer(nn.Module):
    def __init__(self, d: int, activation: str, attention_activation: str | None) -> None:
        super().__init__()
        self.norm1 = nn.GroupNorm(1, d)
        self.attn = _LinearSelfAttention(d, attention_activation)
        self.norm2 = nn.GroupNorm(1, d)
        self.mlp = nn.Sequential(nn.Conv2d(d, 2 * d, 1), Activation(activation), nn.Conv2d(2 * d, d, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class _MobileViTv2Block(nn.Module):
    def __init__(self, c: int, d: int, depth: int, activation: str, attention_activation: str | None,
                 patch: int = 2) -> None:
        super().__init__()
        self.local = nn.Sequential(_conv_bn(c, c, 3, groups=c, activation=activation),
                                   nn.Conv2d(c, d, 1, bias=False))
        self.transformer = nn.Sequential(*[_TransformerLayer(d, activation, attention_activation)
                                           for _ in range(depth)], nn.GroupNorm(1, d))
        self.proj = _conv_bn(d, c, 1)
        self.patch = patch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        p = self.patch
        hp, wp = -(-h // p) * p, -(-w // p) * p
        if (hp, wp) != (h, w):
            x = nn.functional.interpolate(x, size=(hp, wp), mode="bilinear", align_corners=False)
        y = self.local(x)
        d = y.shape[1]
        # unfold into (B, d, p*p, N): pixels at the same position of every patch attend together
        y = y.reshape(b, d, hp // p, p, wp // p, p).permute(0, 1, 3, 5, 2, 4).reshape(b, d, p * p, -1)
        y = self.transformer(y)
        y = y.reshape(b, d, p, p, hp // p, wp // p).permute(0, 1, 4, 2, 5, 3).reshape(b, d, hp, wp)
        y = self.proj(y)
        if (hp, wp) != (h, w):
            y = nn.functional.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)
        return y


@register_model("mobilevitv2")
def mobilevitv2(activation: str = "swish(x)", *, width_multiplier: float = 0.5, num_classes: int = 1000,
                in_channels: int = 3, width: float = 1.0, replace_attention_relu: bool = True) -> nn.Module:
    """MobileViTv2-``width_multiplier`` (channels 32/64/128/256/384/512, attention dims 128/192/256
    and depths 2/4/3, all times the multiplier). ``width`` scales further, for tests."""
    a = width_multiplier * width
    ch = [_ch(c, a) for c in (32, 64, 128, 256, 384, 512)]
    dims = [_ch(c, a) for c in (128, 192, 256)]
    attn_act = activation if replace_attention_relu else None
    layers: list[nn.Module] = [
        _conv_bn(in_channels, ch[0], 3, 2, activation=activation),
        _InvertedResidual(ch[0], ch[1], 1, 2, activation),
        _InvertedResidual(ch[1], ch[2], 2, 2, activation),
        _InvertedResidual(ch[2], ch[2], 1, 2, activation),
    ]
    for (cin, cout), d, depth in zip(((ch[2], ch[3]), (ch[3], ch[4]), (ch[4], ch[5])), dims, (2, 4, 3)):
        layers.append(_InvertedResidual(cin, cout, 2, 2, activation))
        layers.append(_MobileViTv2Block(cout, d, depth, activation, attn_act))
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(ch[5], num_classes)]
    return nn.Sequential(*layers)


# --- CoAtNet -------------------------------------------------------------------------------------


class _SqueezeExcite(nn.Module):
    def __init__(self, c: int, reduced: int, activation: str) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, reduced, 1), Activation(activation),
                                 nn.Conv2d(reduced, c, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.net(x)


class _MBConv(nn.Module):
    """Pre-norm MBConv: BN, 1x1 expand (x4), BN, act, 3x3 depthwise (stride), BN, act, SE (0.25 of the
    input width), 1x1 project; the shortcut is max-pool + 1x1 conv when the block downsamples."""

    def __init__(self, cin: int, cout: int, stride: int, activation: str, expand: int = 4) -> None:
        super().__init__()
        hidden = cin * expand
        self.net = nn.Sequential(
            nn.BatchNorm2d(cin),
            nn.Conv2d(cin, hidden, 1, bias=False), nn.BatchNorm2d(hidden), Activation(activation),
            nn.Conv2d(hidden, hidden, 3, stride, 1, groups=hidden, bias=False), nn.BatchNorm2d(hidden),
            Activation(activation),
            _SqueezeExcite(hidden, max(1, cin // 4), activation),
            nn.Conv2d(hidden, cout, 1),
        )
        if stride > 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.MaxPool2d(3, stride, 1) if stride > 1 else nn.Identity(),
                                          nn.Conv2d(cin, cout, 1))
        else:
            self.shortcut = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shortcut(x) + self.net(x)


class _RelativeAttention(nn.Module):
    """Multi-head self-attention over an (h, w) grid with a learned bias per head and relative offset."""

    def __init__(self, dim: int, grid: tuple[int, int], head_dim: int = 32) -> None:
        super().__init__()
        self.heads = max(1, dim // head_dim)
        self.scale = (dim // self.heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        h, w = grid
        self.bias = nn.Parameter(torch.zeros(self.heads, (2 * h - 1) * (2 * w - 1)))
        ys, xs = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")
        pos = torch.stack([ys.reshape(-1), xs.reshape(-1)])  # (2, N)
        rel = pos[:, :, None] - pos[:, None, :]  # (2, N, N)
        self.register_buffer("index", (rel[0] + h - 1) * (2 * w - 1) + rel[1] + w - 1, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, N, C)
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        att = (q @ k.transpose(-2, -1)) * self.scale + self.bias[:, self.index]
        return self.proj((att.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c))


class _CoAtTransformer(nn.Module):
    """x <- shortcut(x) + attention(pool(LN(x))), then x <- x + FFN(LN(x)) (x4 hidden, activation)."""

    def __init__(self, cin: int, cout: int, stride: int, grid: tuple[int, int], activation: str) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(3, stride, 1) if stride > 1 else nn.Identity()
        self.shortcut = nn.Conv2d(cin, cout, 1) if (stride > 1 or cin != cout) else nn.Identity()
        self.norm1 = nn.LayerNorm(cin)
        self.attn_in = nn.Linear(cin, cout) if cin != cout else nn.Identity()
        self.attn = _RelativeAttention(cout, grid)
        self.norm2 = nn.LayerNorm(cout)
        self.ffn = nn.Sequential(nn.Linear(cout, 4 * cout), Activation(activation), nn.Linear(4 * cout, cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W)
        x = self.pool(x)
        b, _, h, w = x.shape
        t = self.attn(self.attn_in(self.norm1(x.flatten(2).transpose(1, 2))))
        x = self.shortcut(x).flatten(2).transpose(1, 2) + t
        x = x + self.ffn(self.norm2(x))
        return x.transpose(1, 2).reshape(b, -1, h, w)


@register_model("coatnet")
def coatnet(activation: str = "gelu(x)", *, num_classes: int = 1000, in_channels: int = 3, image_size: int = 224,
            depths: tuple[int, ...] = (2, 2, 3, 5, 2), channels: tuple[int, ...] = (64, 96, 192, 384, 768),
            width: float = 1.0) -> nn.Module:
    """CoAtNet-0 by default (Dai et al. 2021: about 25 M weights at 224 px, 1000 classes). The relative
    attention tables are sized for ``image_size`` (stages 3 and 4 see size/16 and size/32 grids); every
    stage halves the resolution."""
    ch = [_ch(c, width) for c in channels]
    stem: list[nn.Module] = [_conv_bn(in_channels, ch[0], 3, 2, activation=activation)]
    stem += [nn.Conv2d(ch[0], ch[0], 3, 1, 1) for _ in range(depths[0] - 1)]
    layers: list[nn.Module] = [nn.Sequential(*stem)]
    size, cin = -(-image_size // 2), ch[0]
    for stage in range(1, 5):
        size = -(-size // 2)
        for i in range(depths[stage]):
            stride = 2 if i == 0 else 1
            if stage <= 2:
                layers.append(_MBConv(cin, ch[stage], stride, activation))
            else:
                layers.append(_CoAtTransformer(cin, ch[stage], stride, (size, size), activation))
            cin = ch[stage]
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.LayerNorm(cin), nn.Linear(cin, num_classes)]
    return nn.Sequential(*layers)
