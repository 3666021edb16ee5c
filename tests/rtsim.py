"""Host-side reference for the real-time policies (tests/test_rt.py): a
job-level simulation of EDF on m identical CPUs and first-fit placement.

simulate(tasks, m, jobs) runs each task (period, wcet) -- implicit deadlines,
all first released at 0 -- for jobs[i] jobs under global EDF on m CPUs
(m = 1: uniprocessor EDF), with the guest's rules: a job that ends late does
not move its successor, which is released at its nominal time (at once if
that has passed: thread_next_job); the m earliest absolute deadlines run,
ties by release then task order; no overheads. It returns, per task, the
misses and the largest lateness (completion - deadline), and the smallest
|completion - deadline| of any job: how far the set is from a knife edge (a
guest with overheads can only match a set with room).

first_fit(utils, m) places tasks in the given order on the first CPU whose
utilisation stays at most 1, a task that fits nowhere on the least-loaded
CPU (libos/sched/pedf.c); it returns the CPUs, the unfit tasks and each
CPU's load.
"""


def simulate(tasks, m, jobs):
    n = len(tasks)
    job, rem, rel = [0] * n, [0.0] * n, [0.0] * n
    ready, done, waiting = [False] * n, [jobs[i] == 0 for i in range(n)], [True] * n
    nextrel = [0.0] * n
    misses, late = [0] * n, [float("-inf")] * n
    margin, t = float("inf"), 0.0
    while not all(done):
        for i in range(n):
            if waiting[i] and not done[i] and nextrel[i] <= t + 1e-9:
                waiting[i], ready[i] = False, True
                rel[i], rem[i] = job[i] * tasks[i][0], tasks[i][1]
        running = sorted((i for i in range(n) if ready[i]), key=lambda i: (rel[i] + tasks[i][0], rel[i], i))[:m]
        events = [t + rem[i] for i in running] + [nextrel[i] for i in range(n) if waiting[i] and not done[i]]
        nxt = min(events)
        for i in running:
            rem[i] -= nxt - t
        t = nxt
        for i in running:
            if rem[i] <= 1e-9:
                deadline = rel[i] + tasks[i][0]
                margin = min(margin, abs(t - deadline))
                late[i] = max(late[i], t - deadline)
                misses[i] += t > deadline
                ready[i] = False
                job[i] += 1
                if job[i] >= jobs[i]:
                    done[i] = True
                else:
                    waiting[i], nextrel[i] = True, job[i] * tasks[i][0]
    return misses, late, margin


def first_fit(utils, m):
    load, cpus, unfit = [0.0] * m, [], []
    for i, u in enumerate(utils):
        c = next((k for k in range(m) if load[k] + u <= 1.0 + 1e-12), None)
        if c is None:
            c = min(range(m), key=lambda k: (load[k], k))
            unfit.append(i)
        load[c] += u
        cpus.append(c)
    return cpus, unfit, load


def partitioned(tasks, m, jobs):
    """P-EDF: first fit in the given order, then uniprocessor EDF per CPU.
    (cpus, unfit, load, misses, late, margin)."""
    cpus, unfit, load = first_fit([c / p for p, c in tasks], m)
    n = len(tasks)
    misses, late, margin = [0] * n, [0.0] * n, float("inf")
    for k in range(m):
        idx = [i for i in range(n) if cpus[i] == k]
        if idx:
            ms, lt, mg = simulate([tasks[i] for i in idx], 1, [jobs[i] for i in idx])
            for j, i in enumerate(idx):
                misses[i], late[i] = ms[j], lt[j]
            margin = min(margin, mg)
    return cpus, unfit, load, misses, late, margin
