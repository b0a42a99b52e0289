"""The API's operations: parse a Request, call the store, render a Response. One function per operation
(the operationIds of openapi.yaml, named by the routes in routes.json); none looks at the method or path.

One module per concern, so that a function's init imports the operations of its own routes and the values
they use, not every route's (docs/design.md, "Cold start"); `requests` holds what they all share."""
