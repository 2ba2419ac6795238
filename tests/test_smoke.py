import random

from pagealloc import Machine, gfp


def test_random_alloc_free_keeps_invariants():
    m = Machine.boot(mem="1G", cpus=2)
    r = random.Random(1)
    live = []
    for _ in range(5000):
        if live and r.random() < 0.5:
            p, o, c = live.pop(r.randrange(len(live)))
            assert m.free_pages(p, o, cpu=c)
        else:
            o = r.choice([0, 0, 0, 1, 2, 3, 9, 4])
            c = r.randrange(2)
            g = r.choice([gfp.GFP_KERNEL, gfp.GFP_HIGHUSER_MOVABLE, gfp.GFP_ATOMIC])
            p = m.alloc_pages(g, o, cpu=c)
            if p is not None:
                live.append((p, o, c))
    m.check()
    before = sum(z.managed_pages for z in m.zones)
    for p, o, c in live:
        m.free_pages(p, o, cpu=c)
    m.drain_all_pages()
    m.check()
    assert sum(z.nr_free_pages() for z in m.zones) == before
