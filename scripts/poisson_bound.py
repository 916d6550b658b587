"""The bounds behind README's "about 0.62x keep-alive-10m's cold starts".

A model of the built-in fleet (`simulations/builtin.yaml`): per-server
request rates (per minute) log-normal with the synthetic fleet's
parameters (mean -3.581, sd 4.079, capped at 20/s), Poisson arrivals, one
day, busy time ignored. It prints (idle replica-hours, cold starts) per
300 servers for fixed keep-alive windows, and for the best a policy can
do knowing each server's exact rate ("bang"): warm all day when the mean
gap is under the cold-start price C minutes, else released after 1 minute.
Interpolate "bang" at fixed-10m's idle hours to compare cold starts.

With `--diurnal` (about a minute) the arrivals follow the fleet's daily
cycle too (rate x (1 + 0.5 sin), a random phase per server, in half-hour
steps), and two policies are compared at fixed-10m's idle hours: one that
knows each server's mean rate, and one that knows its rate in every half
hour (warm while the current mean gap is under C). It also prints the idle
hours of releasing every server 1 minute after each request.
Run: python3 scripts/poisson_bound.py [--diurnal] (standard library only).
"""
import random, math, sys
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

# The daily cycle: half-hour steps, each server at its own phase.
AMPLITUDE=0.5; STEPS=48; STEP=1440/STEPS
def cycled(policy):
    """(idle hours, cold starts) of `policy(mean, now, n)` over the day."""
    idle=cold=0
    for l,phase in zip(lams,phases):
        for k in range(STEPS):
            now=l*max(0,1+AMPLITUDE*math.sin(2*math.pi*(k+0.5)/STEPS+phase))
            if now>0:
                i,c=policy(l,now,STEP*now); idle+=i; cold+=c
    return idle/60/scale, cold/scale
def fixed_cycled(w):
    return lambda l,now,n:(min(n*(1-math.exp(-now*w))/now,STEP), n*math.exp(-now*w))
def bang_cycled(C,knows_now,grace=1):
    def policy(l,now,n):
        if 1/(now if knows_now else l)<C: return STEP,0
        return min(n*min(grace,1/now),STEP), n*math.exp(-now*grace)
    return policy
def at(points,idle):
    """Cold starts at `idle` hours, on the line between neighbouring points."""
    points=sorted(points)
    for (x0,y0),(x1,y1) in zip(points,points[1:]):
        if x0<=idle<=x1: return y0+(y1-y0)*(idle-x0)/(x1-x0)
    return float('nan')

if '--diurnal' in sys.argv:
    phases=[random.uniform(0,2*math.pi) for _ in lams]
    ten=cycled(fixed_cycled(10))
    print('fixed 10',['%.0f'%x for x in ten])
    print('release after 1m',['%.0f'%x for x in cycled(bang_cycled(0,True))])
    for knows_now,name in ((False,'mean rate'),(True,'rate each half hour')):
        points=[cycled(bang_cycled(C,knows_now)) for C in (5,10,20,30)]
        print('knowing the %s:'%name,[['%.0f'%x for x in p] for p in points])
        print('  cold starts at fixed-10m idle hours: %.2fx fixed-10m'%(at(points,ten[0])/ten[1]))
else:
    for w in [2,5,10,20,30,60]: print('fixed',w,['%.0f'%x for x in fixed(w)])
    for C in [5,10,20,30,60,120,240]: print('bang',C,['%.0f'%x for x in bang(C)])
