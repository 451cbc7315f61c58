"""parallel(...): join all and join any, branches that are steps or whole flows."""

from datetime import timedelta

from attrs import evolve, frozen

from dsl import call, parallel, process, sleep, workflow


@frozen
class Report:
    report_id: str
    sales: bool = False
    stock: bool = False


async def gather_sales(r: Report) -> Report:
    return evolve(r, sales=True)


def gather_stock(r: Report) -> Report:
    return evolve(r, stock=True)


stock_flow = process("STOCK", state=Report) >> call(gather_stock) >> call(gather_stock)

Reports = (
    workflow("Reports", Report, key=lambda r: r.report_id)
    >> process("GATHER")
    >> parallel(call(gather_sales), stock_flow)
    >> parallel(call(gather_sales), sleep(timedelta(minutes=5)), join="any")
)
