"""The bound behind README's "about 0.62x keep-alive-10m's cold starts".

A model of the built-in fleet (`simulations/builtin.yaml`): per-server
request rates (per minute) log-normal with the synthetic fleet's
parameters (mean -3.581, sd 4.079, capped at 20/s), Poisson arrivals, one
day, busy time ignored. It prints (idle replica-hours, cold starts) per
300 servers for fixed keep-alive windows, and for the best a policy can
do knowing each server's exact rate ("bang"): warm all day when the mean
gap is under the cold-start price C minutes, else released after 1 minute.
Interpolate "bang" at fixed-10m's idle hours to compare cold starts.
Run: python3 scripts/poisson_bound.py (standard library only).
"""
import random, math
random.seed(7)
N=200000
lams=[min(math.exp(random.gauss(-3.581,4.079)),1200) for _ in range(N)]
lams=[l for l in lams if l*1440>=0.5]
scale=N/300
def fixed(w):
    idle=cold=0
    for l in lams:
        n=1440*l; p=math.exp(-l*w)
        idle+=min(n*(1-p)/l,1440); cold+=n*p
    return idle/60/scale, cold/scale
def bang(C,grace=1):
    idle=cold=0
    for l in lams:
        n=1440*l
        if 1/l<C: idle+=1440
        else:
            idle+=n*min(grace,1/l); cold+=n*math.exp(-l*grace)
    return idle/60/scale, cold/scale
for w in [2,5,10,20,30,60]: print('fixed',w,['%.0f'%x for x in fixed(w)])
for C in [5,10,20,30,60,120,240]: print('bang',C,['%.0f'%x for x in bang(C)])
