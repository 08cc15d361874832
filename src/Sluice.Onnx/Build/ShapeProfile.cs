using System.Globalization;
using Sluice.Core.Tensors;

namespace Sluice.Onnx.Build;

/// <summary>The min/opt/max shapes of one dynamic input, as trtexec's <c>--minShapes/--optShapes/--maxShapes</c>.</summary>
public sealed record InputShapeRange(string Name, long[] Min, long[] Opt, long[] Max);

/// <summary>
/// Declared shape ranges per dynamic input. Requests outside the profile are rejected (<see cref="Check"/>), and the
/// profile becomes the TensorRT provider's <c>trt_profile_*_shapes</c> options.
/// </summary>
public sealed record ShapeProfile(IReadOnlyList<InputShapeRange> Inputs)
{
    public static ShapeProfile Empty { get; } = new([]);

    /// <summary>
    /// Parses <c>input_ids:1x8,8x128,32x256</c> (min, opt, max); several inputs separated by <c>;</c> or a space, or given
    /// as separate strings. Every error names the input.
    /// </summary>
    public static ShapeProfile Parse(IEnumerable<string> specs)
    {
        var inputs = new List<InputShapeRange>();
        foreach (var spec in specs.SelectMany(s => s.Split([';', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
        {
            var colon = spec.LastIndexOf(':');
            if (colon <= 0)
            {
                throw new FormatException($"Shape profile '{spec}' must look like NAME:MINxDIMS,OPTxDIMS,MAXxDIMS (e.g. input_ids:1x8,8x128,32x256).");
            }

            var name = spec[..colon];
            var parts = spec[(colon + 1)..].Split(',', StringSplitOptions.TrimEntries);
            if (parts.Length != 3)
            {
                throw new FormatException($"Shape profile of input '{name}' needs three shapes min,opt,max; got {parts.Length}.");
            }

            var shapes = parts.Select(p => ParseShape(name, p)).ToArray();
            if (shapes[0].Length != shapes[1].Length || shapes[1].Length != shapes[2].Length)
            {
                throw new FormatException($"Shape profile of input '{name}': min, opt and max must have the same rank.");
            }

            for (var d = 0; d < shapes[0].Length; d++)
            {
                if (!(shapes[0][d] <= shapes[1][d] && shapes[1][d] <= shapes[2][d]))
                {
                    throw new FormatException($"Shape profile of input '{name}': dimension {d} must satisfy min <= opt <= max ({shapes[0][d]}, {shapes[1][d]}, {shapes[2][d]}).");
                }
            }

            if (inputs.Any(i => i.Name == name))
            {
                throw new FormatException($"Shape profile of input '{name}' is given twice.");
            }

            inputs.Add(new InputShapeRange(name, shapes[0], shapes[1], shapes[2]));
        }

        return new ShapeProfile(inputs);
    }

    /// <summary>The declared range of <paramref name="name"/>, or null.</summary>
    public InputShapeRange? Find(string name) => Inputs.FirstOrDefault(i => i.Name == name);

    /// <summary>
    /// Null when <paramref name="input"/>'s shape lies within its declared range (or the input has none); otherwise a
    /// message naming the input and the allowed range, for a 400 response.
    /// </summary>
    public string? Check(TensorData input)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (Find(input.Name) is not { } range)
        {
            return null;
        }

        if (input.Shape.Length != range.Min.Length)
        {
            return $"Input '{input.Name}' has shape {TensorShape.Format(input.Shape)}; the engine's shape profile expects rank {range.Min.Length} (between {Format(range.Min)} and {Format(range.Max)}).";
        }

        for (var d = 0; d < range.Min.Length; d++)
        {
            if (input.Shape[d] < range.Min[d] || input.Shape[d] > range.Max[d])
            {
                return $"Input '{input.Name}' has shape {TensorShape.Format(input.Shape)}, outside the engine's shape profile: dimension {d} must be between {range.Min[d]} and {range.Max[d]} (min {Format(range.Min)}, max {Format(range.Max)}).";
            }
        }

        return null;
    }

    /// <summary>
    /// The TensorRT execution provider's profile options (<c>trt_profile_min_shapes</c>, <c>trt_profile_opt_shapes</c>,
    /// <c>trt_profile_max_shapes</c>, e.g. <c>input_ids:1x8,attention_mask:1x8</c>); empty when no input is declared.
    /// </summary>
    public IReadOnlyDictionary<string, string> TensorRtOptions()
    {
        if (Inputs.Count == 0)
        {
            return new Dictionary<string, string>();
        }

        return new SortedDictionary<string, string>(StringComparer.Ordinal)
        {
            ["trt_profile_min_shapes"] = string.Join(",", Inputs.Select(i => $"{i.Name}:{Format(i.Min)}")),
            ["trt_profile_opt_shapes"] = string.Join(",", Inputs.Select(i => $"{i.Name}:{Format(i.Opt)}")),
            ["trt_profile_max_shapes"] = string.Join(",", Inputs.Select(i => $"{i.Name}:{Format(i.Max)}")),
        };
    }

    /// <summary>A shape as <c>8x128</c>.</summary>
    public static string Format(long[] shape) => string.Join("x", shape.Select(d => d.ToString(CultureInfo.InvariantCulture)));

    private static long[] ParseShape(string name, string text)
    {
        var dims = text.Split('x', 'X');
        var shape = new long[dims.Length];
        for (var d = 0; d < dims.Length; d++)
        {
            if (!long.TryParse(dims[d], NumberStyles.None, CultureInfo.InvariantCulture, out shape[d]) || shape[d] < 1)
            {
                throw new FormatException($"Shape profile of input '{name}': '{text}' is not a shape like 8x128 of positive sizes.");
            }
        }

        return shape;
    }
}
