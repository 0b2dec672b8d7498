using ClDiffusion.Backends;

namespace ClDiffusion.Samplers;

/// <summary>
/// A named scratch buffer of a sampler's workspace. Slots are static readonly keys (<see cref="Slots"/>) compared by
/// reference: two samplers that name the same slot share its buffer (a predictor and its corrector share the score
/// buffer), two slots never collide whatever their names; the name is for messages only.
/// </summary>
public sealed class WorkSlot
{
    public string Name { get; }
    public WorkSlot(string name) => Name = name;
    /// <summary>count distinct slots named name0, name1, ... (the rotating histories of the multistep samplers).</summary>
    public static WorkSlot[] Series(string name, int count) => Enumerable.Range(0, count).Select(i => new WorkSlot(name + i)).ToArray();
    public override string ToString() => Name;
}

/// <summary>
/// The scratch buffers of one sampler run: one device buffer per (slot, rows, cols), allocated on first use and kept
/// until the workspace is disposed (the registry's memory cost functions count them; Scheduling/ChunkSizeTests checks).
/// </summary>
public sealed class Workspace : IDisposable
{
    readonly Dictionary<(WorkSlot, int, int), IDeviceBuffer> buffers = new();
    readonly IBackend backend;
    readonly int dim;

    public Workspace(IBackend backend, int dim) { this.backend = backend; this.dim = dim; }

    /// <summary>The slot's buffer of [rows, cols] (cols default: the state dimension d).</summary>
    public IDeviceBuffer this[WorkSlot slot, int rows, int? cols = null]
    {
        get
        {
            ArgumentNullException.ThrowIfNull(slot);
            var k = (slot, rows, cols ?? dim);
            if (!buffers.TryGetValue(k, out var b)) buffers[k] = b = backend.Allocate(rows, cols ?? dim);
            return b;
        }
    }

    public void Dispose()
    {
        foreach (var b in buffers.Values) b.Dispose();
        buffers.Clear();
    }
}

/// <summary>Every scratch slot of the built-in samplers, by sampler family (a slot used by several families is listed once).</summary>
public static class Slots
{
    // shared by the predictors and the correctors
    /// <summary>The score at the current state (every family).</summary>
    public static readonly WorkSlot Score = new("s");
    /// <summary>The randomized midpoints' fractions alpha, or the uniforms of the tilted log-SNR times.</summary>
    public static readonly WorkSlot Alpha = new("alpha");
    /// <summary>The state at the randomized midpoint (rm, Shen-Lee corrector).</summary>
    public static readonly WorkSlot MidpointX = new("xmid");

    // ODE samplers (heun, dpmpp-2m)
    public static readonly WorkSlot Score2 = new("s2");
    public static readonly WorkSlot EulerX = new("xe");
    public static readonly WorkSlot X0 = new("x0");
    public static readonly WorkSlot X0Prev = new("x0prev");

    // multistep samplers (dpmpp-3m, unipc)
    public static readonly WorkSlot[] Dpmpp3mHistory = WorkSlot.Series("ms-x0-", 3);
    public static readonly WorkSlot[] UniPcHistory = WorkSlot.Series("unipc-x0-", 4);
    public static readonly WorkSlot UniPcPredicted = new("unipc-xp");

    // Langevin correctors
    public static readonly WorkSlot Velocity = new("v");
    public static readonly WorkSlot CorrectorXs = new("pc-xs");
    public static readonly WorkSlot CorrectorScores = new("pc-ss");

    // parallel samplers (prm, picard)
    public static readonly WorkSlot PrmX = new("prm-x");
    public static readonly WorkSlot PrmScores = new("prm-s");
    public static readonly WorkSlot PicardXs = new("pic-xs");
    public static readonly WorkSlot PicardPrev = new("pic-prev");
    public static readonly WorkSlot PicardScores = new("pic-ss");
    public static readonly WorkSlot PicardEnd = new("pic-end");
    public static readonly WorkSlot PicardTimes = new("pic-t");
    public static readonly WorkSlot PicardMask = new("pic-mask");

    // log-SNR samplers (rm-x0, prm-x0)
    public static readonly WorkSlot X0Slope = new("x0-slope");
    public static readonly WorkSlot X0Previous = new("x0-prev");
    public static readonly WorkSlot[] X0LineD = WorkSlot.Series("x0-line-", 3);
    public static readonly WorkSlot[] X0LineTimes = WorkSlot.Series("x0-line-t", 3);
    public static readonly WorkSlot X0Start = new("x0-start");
    public static readonly WorkSlot X0MidX = new("x0-xi");
    public static readonly WorkSlot X0MidScores = new("x0-si");
    public static readonly WorkSlot X0MidD = new("x0-di");
    public static readonly WorkSlot X0Times = new("x0-t");

    // guidance (SamplerContext.ScoreAt)
    public static readonly WorkSlot GuidedX = new("guided-x");
    public static readonly WorkSlot GuidedScores = new("guided-s");
    public static readonly WorkSlot Labels = new("labels");
    public static readonly WorkSlot GuidedLabels = new("labels-guided");
}
