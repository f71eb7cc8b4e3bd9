"""The web app: a dashboard and each action's history for the boards and the business manager
(signed in by an e-mailed link), and the update page a reminder's link opens for a lead.

`update_links` is pure and imported by the chasing; the rest needs Starlette and uvicorn.
"""
