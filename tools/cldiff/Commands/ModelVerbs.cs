using ClDiffusion.Backends;
using ClDiffusion.Data;
using ClDiffusion.Diffusion;
using ClDiffusion.IO;
using ClDiffusion.Metrics;
using ClDiffusion.Models.Mlp;
using ClDiffusion.Samplers;
using CommandLine;

namespace ClDiffusion.Cli.Commands;

[Verb("train", HelpText = "Train a score MLP (eps- or x0-prediction, --prediction) by denoising score matching and write it as safetensors (docs/MLP.md).")]
public sealed class TrainOptions
{
    [Option("data", Required = true, HelpText = "optdigits | fashion-mnist (Debian package dataset-fashion-mnist: 60,000 28x28 images) | checkerboard | FILE.npy ([rows, d]).")]
    public string Data { get; set; } = "";
    [Option("out", Required = true, HelpText = "Output .safetensors file.")]
    public string Out { get; set; } = "";
    [Option("width", Default = 128, HelpText = "Hidden width of the MLP.")] public int Width { get; set; }
    [Option("depth", Default = 3, HelpText = "Number of hidden layers.")] public int Depth { get; set; }
    [Option("steps", Default = 4000, HelpText = "Optimiser steps (Adam).")] public int Steps { get; set; }
    [Option("batch", Default = 256, HelpText = "Training rows per step (each with its own time and noise).")] public int Batch { get; set; }
    [Option("lr", Default = 2e-3, HelpText = "Peak Adam learning rate (linear warm-up, then cosine decay to 5% over --steps).")] public double Lr { get; set; }
    [Option("seed", Default = 0UL, HelpText = "Seed of the weights, batches, times and noise.")] public ulong Seed { get; set; }
    [Option("ema", Default = 0.999, HelpText = "Decay of the exponential moving average of the weights that is saved (0: save the raw weights).")] public double Ema { get; set; }
    [Option("delta", Default = 1e-3, HelpText = "Smallest training time.")] public double Delta { get; set; }
    [Option('T', "horizon", Default = 8.0, HelpText = "Largest training time (the sampler's horizon T).")] public double Horizon { get; set; }
    [Option("threads", Default = 0, HelpText = "CPU threads (0: all cores).")] public int Threads { get; set; }
    [Option("dtype", Default = "F32", HelpText = "F32, F16 or BF16 weights in the file.")] public string Dtype { get; set; } = "F32";
    [Option("max-frequency", Default = 50.0, HelpText = "Largest frequency of the sinusoidal time features.")] public double MaxFrequency { get; set; }
    [Option("prediction", Default = "eps", HelpText = "What the network predicts: eps, or x0 (min-SNR weighted; stable at large t in high dimension; the shipped optdigits model).")]
    public string Prediction { get; set; } = "eps";
    [Option("conditional", HelpText = "Class-conditional model (labelled data: optdigits, fashion-mnist): class embedding, label dropout for classifier-free guidance.")]
    public bool Conditional { get; set; }
    [Option("label-dropout", Default = 0.15, HelpText = "With --conditional: share of rows trained with the null class.")]
    public double LabelDropout { get; set; }
    [Option("class-weights", HelpText = "With --conditional: loss weights of classes, as CLASS=WEIGHT[,CLASS=WEIGHT...] (unlisted classes: 1; rows trained with the null class: 1), e.g. 6=3 to train Fashion-MNIST's shirts three times as hard.")]
    public string? ClassWeights { get; set; }

    [Option("loss-log", HelpText = "Write the loss of every step to this .csv (step, loss, smoothed loss, seconds) and its plot beside it (.png).")]
    public string? LossLog { get; set; }

    [Option("init", HelpText = "Warm start from this .safetensors model (F32/F16/BF16) of the same network (width, depth, data, classes, prediction, time frequencies): its weights replace the random init, the EMA starts from them, Adam's moments from zero, and the learning-rate schedule runs afresh over --steps. The output records train_init and train_steps_total.")]
    public string? Init { get; set; }

    public int Run() => TrainCommand.Run(Data, Out, Width, Depth, Steps, Batch, Lr, Seed, Ema, Delta, Horizon, Threads, Dtype, MaxFrequency, Prediction,
        conditional: Conditional, labelDropout: LabelDropout, lossLog: LossLog, init: Init, classWeights: ClassWeights);
}

[Verb("score", HelpText = "Evaluate a model's score (or eps) at given points, to compare with another framework.")]
public sealed class ScoreOptions : ModelOptions
{
    [Option("points", Required = true, HelpText = "Points (.npy [n, d], data space); also --x.")]
    public string X { get; set; } = "";
    [Option("time", Required = true, HelpText = "Forward time t > 0 of the OU process (also --t).")]
    public double T { get; set; }
    [Option("out", Required = true, HelpText = "Output .npy [n, d].")]
    public string Out { get; set; } = "";
    [Option("eps", HelpText = "Write eps = -sigma_t * score (the network's noise prediction) instead of the score.")]
    public bool Eps { get; set; }

    public int Run()
    {
        var (model, _) = LoadModel();
        if (!(T > 0) || !double.IsFinite(T)) throw new ArgumentException($"--t must be a positive forward time, got {T}");
        var arr = Npy.Read(X);
        if (arr.Shape.Length != 2 || arr.Cols != model.Dim) throw new InvalidDataException($"{X}: shape [{string.Join(", ", arr.Shape)}] does not match the model's d = {model.Dim}");
        var x = arr.ToFloat32();
        for (long i = 0; i < x.Length; i++) if (!float.IsFinite(x[i])) throw new InvalidDataException($"{X}: row {i / model.Dim} holds a non-finite value");
        if (model is IDataSpaceModel ds) ds.FromDataSpace(x);
        using var backend = BackendFactory.Open(Device);
        using var prepared = backend.Prepare(model);
        using var xb = backend.Allocate(arr.Rows, model.Dim);
        using var sb = backend.Allocate(arr.Rows, model.Dim);
        backend.Upload(xb, x);
        backend.Score(prepared, xb, (float)T, 0f, null, sb);
        var s = new float[x.Length];
        backend.Download(sb, s);
        // the model's score is in its own (normalised) space; eps is defined there too
        if (Eps) { float sig = (float)ForwardProcess.Sigma(T); for (long i = 0; i < s.Length; i++) s[i] *= -sig; }
        else if (model is MlpModel m) m.ScoreToDataSpace(s);
        Npy.Write(Out, s, arr.Rows, model.Dim);
        Console.WriteLine($"wrote {Out}: {(Eps ? "eps" : "score")} of {arr.Rows} points (d = {model.Dim}) at t = {T} on {backend.DeviceName}");
        return 0;
    }
}

[Verb("check", HelpText = "Quality checks of a shipped model: checkerboard squares hit; optdigits distance to held-out digits and classes present.")]
public sealed class CheckOptions : SamplerCliOptions
{
    [Option("count", Default = 4000, HelpText = "Samples (also --n); with --per-class, samples per class.")]
    public int N { get; set; }
    [Option("seed", Default = 0UL, HelpText = "Seed of the counter-based generator.")] public ulong Seed { get; set; }
    [Option("per-class", HelpText = "Class-conditional digits model: for each guidance weight of --weights, --count samples of every class, the rate labelled right by the held-out nearest-neighbour classifier and the Frechet distance per class.")]
    public bool PerClass { get; set; }
    [Option("weights", Default = "0,1,2,4", HelpText = "With --per-class: the guidance weights, comma-separated.")]
    public string Weights { get; set; } = "0,1,2,4";

    public int Run()
    {
        if (Model is null) throw new ArgumentException("check needs --model checkerboard|optdigits|FILE");
        var (model, _) = LoadModel();
        var mlp = (MlpModel)model;
        if (PerClass) return RunPerClass(mlp);
        using var backend = BackendFactory.Open(Device);
        var so = ToSamplerOptions() with { Labels = ClassLabelsFor(mlp, 0, N), Guidance = Guidance };
        var x = new float[(long)N * mlp.Dim];
        var st = SampleRun.Run(backend, mlp, Sampler, so, Seed, 0, N, x);   // in data space
        Console.WriteLine($"{Sampler}, {so.Steps} steps, {st.NfePerSample:0.#} NFE/sample, {N} samples on {st.Device}");
        if (mlp.Dim == 2)
        {
            int on = 0;
            for (int i = 0; i < N; i++) if (Checkerboard.OnBoard(x[2 * i], x[2 * i + 1])) on++;
            Console.WriteLine($"on the right squares: {100.0 * on / N:0.0}% (target >= 95%)");
            return 0;
        }
        if (mlp.Dim != OptDigits.Dim) throw new ArgumentException($"no check for d = {mlp.Dim} (checks exist for checkerboard, d = 2, and optdigits, d = 64)");
        var (train, held) = OptDigits.LoadSplit();
        int nh = held.Count, nt = train.Count;
        double fdGen = SampleStats.FrechetDistance(x, N, held.Pixels, nh, 64);
        double fdTrain = SampleStats.FrechetDistance(train.Pixels, nt, held.Pixels, nh, 64);
        var classes = new int[10];
        for (int i = 0; i < N; i++)
        {
            int best = 0; double bd = double.MaxValue;
            for (int k = 0; k < nt; k++)
            {
                double dd = 0;
                for (int j = 0; j < 64; j++) { double e = x[(long)i * 64 + j] - train.Pixels[k * 64 + j]; dd += e * e; }
                if (dd < bd) { bd = dd; best = k; }
            }
            classes[train.Labels[best]]++;
        }
        Console.WriteLine($"Frechet distance (pixel space) generated vs held-out: {fdGen:0.00}; training vs held-out: {fdTrain:0.00}");
        Console.WriteLine($"classes by nearest training digit: {string.Join(" ", classes.Select((c, k) => $"{k}:{c}"))}; all present: {classes.All(c => c > 0)}");
        return 0;
    }

    /// <summary>The guidance table of docs/MLP.md (markdown on stdout).</summary>
    int RunPerClass(MlpModel mlp)
    {
        var weights = Weights.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(w => double.TryParse(w, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v) && v >= 0 && double.IsFinite(v)
                ? v : throw new ArgumentException($"--weights: '{w}' is not a guidance weight >= 0")).ToArray();
        if (weights.Length == 0) throw new ArgumentException("--weights is empty");
        if (N < 2) throw new ArgumentException($"--count must be at least 2 samples per class, got {N}");
        var so = ToSamplerOptions();
        so.Validate();
        using var backend = BackendFactory.Open(Device);
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var classifier = ClDiffusion.Experiments.DigitClassifier.HeldOut();
        var rows = ClDiffusion.Experiments.ClassGuidance.Run(backend, mlp, Sampler, so, weights, N, Seed, classifier);
        var (train, held) = OptDigits.LoadSplit();
        int K = mlp.NumClasses, d = OptDigits.Dim;
        string W(double w) => w.ToString("0.##", System.Globalization.CultureInfo.InvariantCulture);
        Console.WriteLine($"{Sampler}, {so.Steps} steps{(so.Denoise ? ", denoise" : "")}, {N} samples per class, seed {Seed}, on {backend.DeviceName}, {sw.Elapsed.TotalSeconds:0} s");
        Console.WriteLine($"| class | {string.Join(" | ", weights.Select(w => $"right, w = {W(w)}"))} | {string.Join(" | ", weights.Select(w => $"Frechet, w = {W(w)}"))} | Frechet, training digits |");
        Console.WriteLine($"|---|{string.Join("|", weights.Select(_ => "---"))}|{string.Join("|", weights.Select(_ => "---"))}|---|");
        for (int c = 0; c < K; c++)
        {
            var tIdx = Enumerable.Range(0, train.Count).Where(i => train.Labels[i] == c).ToArray();
            double fdTrain = ClDiffusion.Experiments.ClassGuidance.FrechetToHeldOut(held, c, tIdx.SelectMany(i => train.Pixels.AsSpan(i * d, d).ToArray()).ToArray(), tIdx.Length);
            var mine = rows.Where(r => r.Class == c).ToArray();
            Console.WriteLine($"| {c} | {string.Join(" | ", mine.Select(r => $"{100 * r.Rate:0.0}%"))} | {string.Join(" | ", mine.Select(r => $"{r.Frechet:0.0}"))} | {fdTrain:0.0} |");
        }
        Console.WriteLine($"| mean | {string.Join(" | ", weights.Select(w => $"**{100 * rows.Where(r => r.Guidance == w).Average(r => r.Rate):0.0}%**"))} | {string.Join(" | ", weights.Select(w => $"{rows.Where(r => r.Guidance == w).Average(r => r.Frechet):0.0}"))} | |");
        Console.WriteLine($"| lowest class | {string.Join(" | ", weights.Select(w => { var r = rows.Where(r => r.Guidance == w).MinBy(r => r.Rate)!; return $"{100 * r.Rate:0.0}% ({r.Class})"; }))} | {string.Join(" | ", weights.Select(_ => ""))} | |");
        // the classifier itself, on digits it has not seen either: the training split
        int ok = 0;
        for (int i = 0; i < train.Count; i++) if (classifier.Classify(train.Pixels.AsSpan(i * d, d)) == train.Labels[i]) ok++;
        Console.WriteLine($"classifier (1-NN on the {held.Count} held-out digits) on the {train.Count} training digits: {100.0 * ok / train.Count:0.0}% right");
        return 0;
    }
}
