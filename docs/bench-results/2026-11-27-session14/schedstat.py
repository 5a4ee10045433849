import os,sys,time,collections
def snap():
    out={}
    for pid in os.listdir('/proc'):
        if not pid.isdigit(): continue
        try:
            cmd=open(f'/proc/{pid}/cmdline','rb').read().replace(b'\0',b' ').decode()
        except Exception: continue
        if 'ExampleNode' not in cmd and 'Bench' not in cmd: continue
        who='node' if 'ExampleNode' in cmd else 'bench'
        for tid in os.listdir(f'/proc/{pid}/task'):
            try:
                name=open(f'/proc/{pid}/task/{tid}/comm').read().strip()
                run,wait,sl=map(int,open(f'/proc/{pid}/task/{tid}/schedstat').read().split())
            except Exception: continue
            out[(pid,tid)]=(who,name,run,wait,sl)
    return out
a=snap(); print("threads",len(a)); time.sleep(10); b=snap()
agg=collections.defaultdict(lambda:[0,0,0])
for k,v in b.items():
    if k not in a: continue
    who,name,run,wait,sl=v; _,_,r0,w0,s0=a[k]
    g=who+':'+name.rstrip('0123456789-#').rstrip('-')[:16]
    agg[g][0]+=run-r0; agg[g][1]+=wait-w0; agg[g][2]+=sl-s0
tot=[0,0,0]
for g,(r,w,s) in sorted(agg.items(), key=lambda x:-x[1][1])[:14]:
    print(f'{g:30s} run {r/1e9:6.2f}s wait {w/1e9:6.2f}s slices {s:8d} wait/slice {w/max(s,1)/1e3:7.1f}us')
    tot=[tot[0]+r,tot[1]+w,tot[2]+s]
print('total run',tot[0]/1e9,'wait',tot[1]/1e9, 'wait/slice us', tot[1]/max(tot[2],1)/1e3)
