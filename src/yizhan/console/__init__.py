"""The web console (docs/console.md): server-rendered pages for tenants and operators at
`/console`, in Chinese and English, served by the API's process.

One module per page group (`auth`, `overview`, `records`, `statistics`, `signatures`,
`templates_page`, `calls`, `keys`, `operator`), their Jinja2 templates beside them in
`templates/`, the stylesheet and the one small script in `static/`; `pages.py` holds what
every page shares (rendering, the logged-in person, CSRF, language) and `app.py` mounts
them all on the API's application.
The pages call the services the API calls (`api/services.py` `ApiServices`, the diagnosis,
the store's protocols declared here), never a second path to the store.

May import `api/`, `diagnosis/`, `compliance/`, `records/`, `policy/`, `runtime/` and
`domain/`; not `storage/` or `cli/`.
"""
