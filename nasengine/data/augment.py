"""CIFAR augmentation on a whole batch at once, on the batch's device.

Random crop with zero padding and horizontal flip (the standard CIFAR recipe,
same as torchvision's ``RandomCrop(32, padding=4)`` + ``RandomHorizontalFlip``),
done as one ``gather``: per-sample crop offsets and flips only change the index
each output pixel reads, so there is no per-image Python loop and no
host-device round trip.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


class BatchAugment:
    """Crop+flip a uint8 batch, then normalise it to float ``(x/255 - mean)/std``.

    ``BatchAugment(mean, std, pad=0, flip=False)`` is the eval transform
    (normalisation only); :meth:`normalize` is the same thing as a method.
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float], pad: int = 4,
                 flip: bool = True) -> None:
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"need 3 means and 3 positive stds, got mean={mean} std={std}")
        if pad < 0:
            raise ValueError(f"pad must be >= 0, got {pad}")
        self.mean = tuple(float(m) for m in mean)
        self.std = tuple(float(s) for s in std)
        self.pad, self.flip = int(pad), bool(flip)
        self._affine: dict[torch.device, tuple[torch.Tensor, torch.Tensor]] = {}

    def __repr__(self) -> str:
        return f"BatchAugment(mean={self.mean}, std={self.std}, pad={self.pad}, flip={self.flip})"

    def __call__(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Augmented, normalised float32 copy of the uint8 batch ``x`` (B×3×H×W)."""
        if self.pad or self.flip:
            x = self.crop_flip(x, *self.sample_params(x.shape[0], generator, x.device))
        return self.normalize(x)

    def sample_params(self, batch: int, generator: torch.Generator | None = None,
                      device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """Random ``offsets`` (B×2: row, col in [0, 2*pad]) and ``flips`` (B bools).

        Drawn on the generator's device (no sync), then moved to ``device``.
        """
        where = generator.device if generator is not None else torch.device(device)
        offsets = torch.randint(0, 2 * self.pad + 1, (batch, 2), generator=generator, device=where)
        if self.flip:
            flips = torch.randint(0, 2, (batch,), generator=generator, device=where).bool()
        else:
            flips = torch.zeros(batch, dtype=torch.bool, device=where)
        return offsets.to(device, non_blocking=True), flips.to(device, non_blocking=True)

    def crop_flip(self, x: torch.Tensor, offsets: torch.Tensor,
                  flips: torch.Tensor) -> torch.Tensor:
        """Crop sample b at ``offsets[b]`` of the zero-padded image, mirrored where ``flips[b]``."""
        b, c, h, w = x.shape
        p = self.pad
        padded = F.pad(x, (p, p, p, p)) if p else x
        wp = w + 2 * p
        rows = torch.arange(h, device=x.device).unsqueeze(1) * wp
        cols = torch.arange(w, device=x.device)
        straight = (rows + cols).reshape(-1)
        mirrored = (rows + cols.flip(0)).reshape(-1)
        start = offsets[:, 0] * wp + offsets[:, 1]
        index = start.unsqueeze(1) + torch.where(flips.unsqueeze(1), mirrored, straight)
        flat = padded.reshape(b, c, -1)
        return flat.gather(2, index.unsqueeze(1).expand(b, c, h * w)).view(b, c, h, w)

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """``(x/255 - mean)/std`` as float32, fused into one multiply-add."""
        scale, shift = self._coefficients(x.device)
        return torch.addcmul(shift, x.float(), scale)

    def _coefficients(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        if device not in self._affine:
            mean = torch.tensor(self.mean).view(1, 3, 1, 1)
            std = torch.tensor(self.std).view(1, 3, 1, 1)
            self._affine[device] = ((1.0 / (255.0 * std)).to(device), (-mean / std).to(device))
        return self._affine[device]
