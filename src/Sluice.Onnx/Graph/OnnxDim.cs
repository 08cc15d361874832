namespace Sluice.Onnx.Graph;

/// <summary>One dimension of a graph input or output: a fixed size, or a symbolic name such as <c>batch</c>.</summary>
/// <remarks>Converts implicitly from <see cref="long"/>, <see cref="int"/> and <see cref="string"/>, so shapes read as <c>["batch", 4]</c>.</remarks>
public readonly record struct OnnxDim
{
    private OnnxDim(long value, string? param)
    {
        Value = value;
        Param = param;
    }

    /// <summary>The fixed size, or -1 when the dimension is symbolic.</summary>
    public long Value { get; }

    /// <summary>The symbolic name, or null when the dimension is fixed.</summary>
    public string? Param { get; }

    /// <summary>True when the dimension has a symbolic name instead of a size.</summary>
    public bool IsSymbolic => Param is not null;

    /// <summary>A fixed dimension.</summary>
    public static OnnxDim Fixed(long value)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(value);
        return new OnnxDim(value, null);
    }

    /// <summary>A symbolic dimension named <paramref name="name"/>.</summary>
    public static OnnxDim Symbolic(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        return new OnnxDim(-1, name);
    }

    public static implicit operator OnnxDim(long value) => Fixed(value);
    public static implicit operator OnnxDim(int value) => Fixed(value);
    public static implicit operator OnnxDim(string name) => Symbolic(name);

    public override string ToString() => Param ?? Value.ToString(System.Globalization.CultureInfo.InvariantCulture);
}
