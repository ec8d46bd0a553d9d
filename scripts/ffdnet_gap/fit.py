"""Extrapolation of the measured gaps: least squares of gap (dB) vs log10(steps) and vs log10(CPU s)."""
import os
STUDY = os.environ.get("STUDY", "/work/study")  # the study's work folder (networks, stores, json)
LOW = os.environ.get("LOW", "/work/natural-cond-low.safetensors")  # the previous sigma <= 1 expert
import json, numpy as np
cpu_step_w32 = (501.33 + 6.31) / 2000      # w32_s2000, /usr/bin/time user+sys
cpu_step_w48 = (1183.82 + 89.19) / 2375    # w48_s2375
print(f"CPU s/step w32 {cpu_step_w32:.4f}  w48 {cpu_step_w48:.4f}  ratio {cpu_step_w48/cpu_step_w32:.3f}")
pg = json.load(open(f"{STUDY}/paired.json"))
P = "unet:variant=conditioned,weights="
def gap(f, s): return pg[f"{P}{f}|{s}"]["gap_mse"]
runs32 = [(2000, f"{STUDY}/w32_s2000.safetensors"), (5000, LOW), (8000, f"{STUDY}/cont3000.safetensors")]
val0 = {2000: 32.9361, 5000: 33.5607, 8000: 33.7246}
out = {}
for s in (15/255, 25/255, 50/255):
    st = np.array([r[0] for r in runs32], float); g = np.array([gap(f, s) for _, f in runs32])
    b, a = np.polyfit(np.log10(st), g, 1)
    b2 = (g[2] - g[1]) / np.log10(st[2] / st[1])
    need_ls = 10 ** ((-0.3 - a) / b)
    need_loc = st[2] * 10 ** ((-0.3 - g[2]) / b2)
    out[s] = dict(gaps=g.tolist(), slope_ls=b, slope_last=b2, steps_ls=need_ls, steps_last=need_loc)
    print(f"σ={s*255:.0f}/255 gaps {np.round(g,3)}  LSQ slope {b:.3f} dB/decade -> -0.3 dB at {need_ls:,.0f} steps "
          f"({need_ls*cpu_step_w32/3600:.1f} CPU h);  last-interval slope {b2:.3f} -> {need_loc:,.0f} steps ({need_loc*cpu_step_w32/3600:.1f} CPU h);"
          f" first-interval slope {(g[1]-g[0])/np.log10(2.5):.3f}")
# val PSNR (seed-0 set) vs log10 steps, end-of-schedule points
st = np.array(sorted(val0), float); v = np.array([val0[k] for k in sorted(val0)])
print("val slopes dB/decade:", (v[1]-v[0])/np.log10(2.5), (v[2]-v[1])/np.log10(1.6), "LSQ", np.polyfit(np.log10(st), v, 1)[0])
# within the shipped schedule
import safetensors
h = np.array(json.loads(safetensors.safe_open(LOW, "np").metadata()["training"])["result"]["history"])
for lo in (1000, 2500):
    m = h[:, 0] >= lo
    b, a = np.polyfit(np.log10(h[m, 0]), h[m, 2], 1)
    print(f"shipped run, val vs log10(step) for step>={lo}: slope {b:.3f} dB/decade")
# width at equal CPU
for s in (15/255, 25/255, 50/255):
    w32 = [gap(f"{STUDY}/w32_s2000.safetensors", s), gap(LOW, s)]
    w48 = [gap(f"{STUDY}/w48_s950.safetensors", s), gap(f"{STUDY}/w48_s2375.safetensors", s)]
    cpu32 = [2000*cpu_step_w32, 5000*cpu_step_w32]; cpu48 = [950*cpu_step_w48, 2375*cpu_step_w48]
    s32 = (w32[1]-w32[0])/np.log10(cpu32[1]/cpu32[0]); s48 = (w48[1]-w48[0])/np.log10(cpu48[1]/cpu48[0])
    d = w32[1]-w48[1]
    cross = cpu32[1]*10**(d/(s48-s32)) if s48 > s32 else float("inf")
    print(f"σ={s*255:.0f}/255 w32 {np.round(w32,3)} @ {np.round(cpu32)} CPU s, slope {s32:.3f}/dec; w48 {np.round(w48,3)} @ {np.round(cpu48)} CPU s, slope {s48:.3f}/dec; "
          f"w32-w48 {w32[0]-w48[0]:+.3f}, {d:+.3f}; lines cross at {cross:,.0f} CPU s")
json.dump({str(k): v for k, v in out.items()}, open(f"{STUDY}/fit.json", "w"), indent=1)
