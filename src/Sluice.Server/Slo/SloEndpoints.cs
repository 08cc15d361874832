using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Sluice.Server.Http;
using Sluice.Slo.Evaluation;

namespace Sluice.Server.Slo;

/// <summary><c>GET /v2/slo</c> and <c>GET /v2/slo/{name}</c>: the SLO engine's last evaluation as JSON (on the HTTP port).</summary>
internal static class SloEndpoints
{
    public static IEndpointRouteBuilder MapSlo(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/v2/slo", static context =>
        {
            var evaluator = context.RequestServices.GetRequiredService<SloEvaluator>();
            return WriteJsonAsync(context, SloStatusJson.WriteAll(evaluator.Statuses));
        });
        endpoints.MapGet("/v2/slo/{name}", static context =>
        {
            var name = (string)context.Request.RouteValues["name"]!;
            var evaluator = context.RequestServices.GetRequiredService<SloEvaluator>();
            return evaluator.GetStatus(name) is { } status
                ? WriteJsonAsync(context, SloStatusJson.WriteOne(status))
                : HttpErrors.WriteAsync(context, StatusCodes.Status404NotFound, $"no SLO named '{Printable(name)}'");
        });
        return endpoints;
    }

    private static Task WriteJsonAsync(HttpContext context, string json)
    {
        context.Response.ContentType = "application/json";
        return context.Response.WriteAsync(json, context.RequestAborted);
    }

    /// <summary>The name as asked for, cut short and without control characters, to echo back in an error.</summary>
    private static string Printable(string name)
    {
        var cleaned = new string(name.Take(128).Where(c => !char.IsControl(c)).ToArray());
        return name.Length > 128 ? cleaned + "…" : cleaned;
    }
}
