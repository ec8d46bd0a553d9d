"""Speed of one U-Net training step (draw a batch, forward, weighted loss, backward, Adam).

The step is ``denoisebench.networks.train``'s: its ``draw_batch`` (32 crops of 32×32 with per-image σ)
and EDM loss weighting, on the default bias-free U-Net (width 32).  Skipped when
``denoisebench.networks.train`` is missing (NotImplementedError) or the device is absent.
"""
from .common import require, skip


class TrainStep:
    params = (["cpu", "cuda"], [False, True])
    param_names = ["device", "amp"]
    repeat = (1, 5, 10.0)
    rounds = 1
    processes = 1
    timeout = 300
    batch, patch = 32, 32

    def setup(self, device, amp):
        torch = require("torch")
        train = require("denoisebench.networks.train", "denoisebench.train")
        bfunet = require("denoisebench.networks._bfunet", "denoisebench._bfunet")
        if device == "cuda" and not torch.cuda.is_available():
            skip("no CUDA device")
        if amp and device != "cuda":
            skip("AMP (bfloat16 autocast) is for CUDA")
        from denoisebench.registry import make_dataset

        self.torch, self.device = torch, torch.device(device)
        self.images = torch.from_numpy(make_dataset("natural", size=64).sample(64, 0, split="train"))
        torch.manual_seed(0)
        self.model = bfunet.build(bfunet.default_hparams()).to(self.device).train()
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.draw = lambda step: train.draw_batch(self.images, step, 0, self.batch, self.patch, False,
                                                  "log-uniform", 0.005, 1.0)
        self.weight = train.LOSS_WEIGHTS["edm"]
        self.sigma_data = float(self.images.std())
        self.amp = amp
        self.time_train_step(device, amp)

    def time_train_step(self, device, amp):
        torch = self.torch
        x, sigma, z = (t.to(self.device) for t in self.draw(0))
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            x_hat = self.model(x + sigma[:, None, None, None] * z)
        loss = (self.weight(sigma, self.sigma_data) * ((x_hat.float() - x) ** 2).mean(dim=(1, 2, 3))).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        self.opt.step()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
