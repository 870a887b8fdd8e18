package appliance

// AdminRoutes lists the admin API's patterns ("GET /apps", ...), for the
// console's refusal tests.
func AdminRoutes(a *Appliance) []string { return a.adminAPI().patterns }
