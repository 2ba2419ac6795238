"""Free page reporting: handing free high-order blocks back to a hypervisor.

Models mm/page_reporting.c (CONFIG_PAGE_REPORTING) of Linux 6.1 and, as the
shipped device, the reporting virtqueue of drivers/virtio/virtio_balloon.c.

A device registers (one at a time, -EBUSY otherwise); registration sets
``page_reporting_order`` to the device's order or pageblock_order and
requests a first pass. Every free that ends in a block of at least that
order (``__free_one_page`` without FPI_SKIP_REPORT_NOTIFY) requests a pass;
a request from IDLE arms the worker 2 seconds (PAGE_REPORTING_DELAY) out on
the simulated clock (see timers.py). The worker walks every zone that keeps
``low + 32 << order`` pages free, every order from page_reporting_order up
and every migratetype but ISOLATE; it isolates unreported blocks 32 at a time
(__isolate_free_page), hands them to the device, puts them back at the list
tail (__putback_isolated_page: FPI_TO_TAIL | FPI_SKIP_REPORT_NOTIFY) and
marks those that did not merge PG_reported, so later passes skip them. A
per-list budget of ceil(nr_free / 512) reports per pass leaves the rest for
the next pass, 2 seconds later.

The model's state lives in one :class:`PageReporting` per machine, installed
as ``mm.reporting`` (the hook ``__free_one_page`` calls); while no device is
registered its ``order`` is MAX_ORDER, so no free notifies.

Deliberate differences: the device's report() runs synchronously, taking no
simulated time; nothing else runs while the worker holds a zone "unlocked"
(the kernel drops zone->lock around report()).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .memmap import PB_MT_MASK, PG_buddy, PG_reported
from .mmzone import MAX_ORDER, MIGRATE_ISOLATE, MIGRATE_TYPES, PAGE_SIZE, Zone, pageblock_order
from .internal import ALLOC_CMA
from .page_alloc import __isolate_free_page, __putback_isolated_page, zone_watermark_ok
from .timers import HZ, DelayedWork, cancel_delayed_work_sync, schedule_delayed_work

__all__ = ["PAGE_REPORTING_CAPACITY", "PAGE_REPORTING_DELAY", "PAGE_REPORTING_IDLE",
           "PAGE_REPORTING_REQUESTED", "PAGE_REPORTING_ACTIVE", "PageReportingDevInfo",
           "VirtioBalloonReporter", "ReportedBlock", "PageReporting", "page_reporting",
           "page_reporting_register", "page_reporting_unregister", "page_reporting_notify_free", "page_reporting_process",
           "page_reporting_process_zone", "page_reporting_cycle", "page_reporting_drain",
           "set_page_reporting_order", "reported_pages"]

PAGE_REPORTING_CAPACITY = 32          # include/linux/page_reporting.h; a power of 2
PAGE_REPORTING_DELAY = 2 * HZ         # jiffies
PAGE_REPORTING_IDLE = 0
PAGE_REPORTING_REQUESTED = 1
PAGE_REPORTING_ACTIVE = 2

EBUSY = 16
ENOSPC = 28

_STATE_NAMES = ("IDLE", "REQUESTED", "ACTIVE")


class ReportedBlock(NamedTuple):
    """One block the host got back: when (simulated ns), where and how big."""
    time_ns: int
    pfn: int
    order: int


class PageReportingDevInfo:
    """struct page_reporting_dev_info: a device that takes free blocks back.

    Subclass and override :meth:`report`. ``order`` is the device's
    minimal order (0: pageblock_order, as for virtio-balloon on x86_64).
    """

    def __init__(self, order: int = 0) -> None:
        self.order = order
        self.state = PAGE_REPORTING_IDLE
        self.work: DelayedWork | None = None

    def report(self, mm, sgl: list[tuple[int, int]]) -> int:
        """Take the blocks ``sgl`` = [(pfn, order), ...]; 0 on success or a -errno."""
        return 0

    @property
    def state_name(self) -> str:
        return _STATE_NAMES[self.state]


class VirtioBalloonReporter(PageReportingDevInfo):
    """virtio-balloon free page reporting: the host discards what it is told is free.

    Models drivers/virtio/virtio_balloon.c:virtballoon_free_page_report: one
    report() is one buffer chain on the reporting virtqueue, kicked and waited
    for. Counts what the host got back and records every block with the time.
    Set ``fail_next`` to make the next reports fail (the -ENOSPC of
    virtqueue_add_inbuf): the blocks are put back unflagged.
    """

    def __init__(self, order: int = 0) -> None:
        super().__init__(order)
        self.reports: list[ReportedBlock] = []
        self.nr_reports = 0                # report() calls that succeeded (virtqueue kicks)
        self.nr_failed = 0
        self.pages_reported = 0            # pages the host got back, cumulative
        self.blocks_reported = 0
        self.fail_next = 0
        self.batches: list[list[ReportedBlock]] = []

    def report(self, mm, sgl: list[tuple[int, int]]) -> int:
        if self.fail_next > 0:
            self.fail_next -= 1
            self.nr_failed += 1
            mm.printk("WARNING: CPU: 0 PID: 0 at drivers/virtio/virtio_balloon.c "
                      "virtballoon_free_page_report")
            return -ENOSPC
        now = getattr(mm, "clock_ns", 0)
        batch = [ReportedBlock(now, pfn, order) for pfn, order in sgl]
        self.batches.append(batch)
        self.reports.extend(batch)
        self.nr_reports += 1
        self.blocks_reported += len(batch)
        self.pages_reported += sum(1 << o for _, o in sgl)
        return 0

    @property
    def bytes_reported(self) -> int:
        return self.pages_reported * PAGE_SIZE

    def reported_ranges(self) -> list[tuple[int, int]]:
        """Every pfn range [start, end) the host was given, merged and sorted."""
        spans = sorted((b.pfn, b.pfn + (1 << b.order)) for b in self.reports)
        out: list[tuple[int, int]] = []
        for s, e in spans:
            if out and s <= out[-1][1]:
                out[-1] = (out[-1][0], max(out[-1][1], e))
            else:
                out.append((s, e))
        return out


class PageReporting:
    """The globals of mm/page_reporting.c for one machine: the hook at ``mm.reporting``.

    ``order`` is the page_reporting_order module parameter (MAX_ORDER until a
    device registers); ``prdev`` is pr_dev_info.
    """

    __slots__ = ("order", "prdev", "enabled", "passes")

    def __init__(self) -> None:
        self.order = MAX_ORDER
        self.prdev: PageReportingDevInfo | None = None
        self.enabled = False               # the page_reporting_enabled static key
        self.passes = 0                    # worker runs

    def notify_free(self, mm, order: int) -> None:
        """The hook __free_one_page calls with the merged order (page_reporting_notify_free)."""
        page_reporting_notify_free(mm, order)


def page_reporting(mm) -> PageReporting:
    """The machine's page reporting state, installed as ``mm.reporting`` on first use."""
    pr = mm.reporting
    if pr is None:
        pr = PageReporting()
        mm.reporting = pr
    return pr


def page_reporting_notify_free(mm, order: int) -> None:
    """Request a pass when a free ends in a block of page_reporting_order or more.

    Models mm/page_reporting.h:page_reporting_notify_free and
    __page_reporting_notify (pr_dev_info NULL: nothing to do).
    """
    pr = mm.reporting
    if pr is None or order < pr.order:
        return
    prdev = pr.prdev
    if prdev is not None:
        __page_reporting_request(mm, prdev)


def __page_reporting_request(mm, prdev: PageReportingDevInfo) -> None:
    """Ask for a pass: from IDLE arm the worker PAGE_REPORTING_DELAY out."""
    state = prdev.state
    if state == PAGE_REPORTING_REQUESTED:
        return
    prdev.state = PAGE_REPORTING_REQUESTED
    if state != PAGE_REPORTING_IDLE:
        return
    schedule_delayed_work(mm, prdev.work, PAGE_REPORTING_DELAY)


def set_page_reporting_order(mm, order: int) -> None:
    """Write page_reporting.page_reporting_order (0644; a device's registration overwrites it).

    [6.1] the value is not validated: above MAX_ORDER - 1 nothing is reported.
    """
    if order < 0:
        raise ValueError(f"page_reporting_order {order}: must be >= 0 (uint)")
    page_reporting(mm).order = order


def page_reporting_drain(mm, zone: Zone, sgl: list[tuple[int, int]], reported: bool) -> None:
    """Put reported blocks back at their list tails; flag those that did not merge."""
    mem = mm.mem
    flg = mem.flags
    for pfn, order in sgl:
        mt = mem.pageblock[pfn >> pageblock_order] & PB_MT_MASK
        __putback_isolated_page(mm, zone, pfn, order, mt)
        if not reported:
            continue
        if flg[pfn] & PG_buddy and mem.order[pfn] == order:
            flg[pfn] |= PG_reported


def _list_rotate_to_front(mem, pfn: int, head: int) -> None:
    """list_rotate_to_front(): make pfn the first entry by moving the sentinel before it."""
    mem.list_del(head)
    mem.list_add_tail(head, pfn)


def page_reporting_cycle(mm, prdev: PageReportingDevInfo, zone: Zone, order: int, mt: int,
                         sgl: list, offset: int) -> tuple[int, int]:
    """Fill, report and drain batches from one free list; returns (err, offset).

    Models mm/page_reporting.c:page_reporting_cycle: reported blocks are
    skipped, the budget allows ceil(nr_free / (32 * 16)) reports, a refused
    isolation (watermark) stops the walk, and the first unprocessed block is
    rotated to the list head.
    """
    mem = mm.mem
    nxt = mem.next
    flg = mem.flags
    head = zone.list_base + order * MIGRATE_TYPES + mt
    if nxt[head] == head:
        return 0, offset
    err = 0
    cap = PAGE_REPORTING_CAPACITY
    budget = -(-zone.nr_free[order] // (cap * 16))
    # list_for_each_entry_safe(page, next, list, lru)
    page = nxt[head]
    nxt_page = nxt[page]
    while page != head:
        if flg[page] & PG_reported:
            page = nxt_page
            nxt_page = nxt[page]
            continue
        if budget < 0:
            prdev.state = PAGE_REPORTING_REQUESTED
            nxt_page = page
            break
        if offset:
            if not __isolate_free_page(mm, zone, page, order):
                nxt_page = page
                break
            offset -= 1
            sgl[offset] = (page, order)
            page = nxt_page
            nxt_page = nxt[page]
            continue
        if nxt[head] != page:
            _list_rotate_to_front(mem, page, head)
        err = prdev.report(mm, sgl[:cap])
        offset = cap
        budget -= 1
        page_reporting_drain(mm, zone, sgl[:cap], not err)
        for i in range(cap):
            sgl[i] = None
        nxt_page = nxt[head]
        if err:
            break
        page = nxt_page
        nxt_page = nxt[page]
    if nxt_page != head and nxt[head] != nxt_page:
        _list_rotate_to_front(mem, nxt_page, head)
    return err, offset


def page_reporting_process_zone(mm, prdev: PageReportingDevInfo, sgl: list, zone: Zone) -> int:
    """Report one zone's unreported blocks, if it keeps low + 32 << order pages free.

    Models mm/page_reporting.c:page_reporting_process_zone; a partial batch
    left at the end is reported too.
    """
    if zone.list_base < 0:
        return 0
    pr_order = page_reporting(mm).order
    offset = PAGE_REPORTING_CAPACITY
    watermark = zone.low_wmark_pages() + (PAGE_REPORTING_CAPACITY << min(pr_order, 62))
    if not zone_watermark_ok(mm, zone, 0, watermark, 0, ALLOC_CMA):
        return 0
    for order in range(pr_order, MAX_ORDER):
        for mt in range(MIGRATE_TYPES):
            if mt == MIGRATE_ISOLATE:
                continue
            err, offset = page_reporting_cycle(mm, prdev, zone, order, mt, sgl, offset)
            if err:
                return err
    leftover = PAGE_REPORTING_CAPACITY - offset
    err = 0
    if leftover:
        part = sgl[offset:]
        err = prdev.report(mm, part)
        page_reporting_drain(mm, zone, part, not err)
        for i in range(offset, PAGE_REPORTING_CAPACITY):
            sgl[i] = None
    return err


def page_reporting_process(mm) -> None:
    """The delayed work: one pass over every zone, re-armed if asked for meanwhile.

    Models mm/page_reporting.c:page_reporting_process.
    """
    pr = page_reporting(mm)
    prdev = pr.prdev
    if prdev is None:
        return
    pr.passes += 1
    prdev.state = PAGE_REPORTING_ACTIVE
    sgl: list = [None] * PAGE_REPORTING_CAPACITY
    with mm.lock:
        for zone in mm.zones:
            if page_reporting_process_zone(mm, prdev, sgl, zone):
                break
    if prdev.state == PAGE_REPORTING_ACTIVE:
        prdev.state = PAGE_REPORTING_IDLE
    elif prdev.state == PAGE_REPORTING_REQUESTED:
        schedule_delayed_work(mm, prdev.work, PAGE_REPORTING_DELAY)


def page_reporting_register(mm, prdev: PageReportingDevInfo) -> int:
    """Register the reporting device: 0, or -EBUSY when one is registered already.

    Models mm/page_reporting.c:page_reporting_register [6.1]: the order is
    overwritten (device order or pageblock_order) and a first pass requested.
    """
    pr = page_reporting(mm)
    if pr.prdev is not None:
        return -EBUSY
    pr.order = prdev.order or pageblock_order
    prdev.state = PAGE_REPORTING_IDLE
    prdev.work = DelayedWork(page_reporting_process, "page_reporting_process")
    __page_reporting_request(mm, prdev)
    pr.prdev = prdev
    if not pr.enabled:
        pr.enabled = True
        mm.printk("Free page reporting enabled")
    return 0


def page_reporting_unregister(mm, prdev: PageReportingDevInfo) -> None:
    """Unregister the device and cancel its pending pass (PG_reported flags stay)."""
    pr = page_reporting(mm)
    if pr.prdev is prdev:
        pr.prdev = None
        if prdev.work is not None:
            cancel_delayed_work_sync(mm, prdev.work)


def reported_pages(mm, zone: Zone | None = None) -> int:
    """Pages in free blocks flagged PG_reported (what the host holds right now)."""
    mem = mm.mem
    heads = np.flatnonzero((mem.a_flags & (PG_buddy | PG_reported)) == (PG_buddy | PG_reported))
    if zone is not None:
        heads = heads[(heads >= zone.zone_start_pfn) & (heads < zone.zone_end_pfn)]
    if not heads.size:
        return 0
    return int((np.int64(1) << mem.a_order[heads].astype(np.int64)).sum())
