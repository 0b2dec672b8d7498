using System.Diagnostics;
using System.Globalization;
using ClDiffusion.Data;
using ClDiffusion.Models.Mlp;
using ClDiffusion.Cli.Output;
using ClDiffusion.Training;

namespace ClDiffusion.Cli.Commands;

/// <summary>
/// `cldiff train`: trains an eps-prediction MLP score model by denoising score matching and writes it as safetensors
/// (docs/MLP.md). The verb is wired by the CLI owner; this class only needs <see cref="Run"/>.
/// </summary>
public static class TrainCommand
{
    /// <param name="data">optdigits | fashion-mnist (Debian package dataset-fashion-mnist) | checkerboard | path to a 2-d float32/float64 .npy file (rows x dim)</param>
    /// <param name="output">the .safetensors file to write</param>
    /// <returns>0 on success, 1 on bad input (message on stderr)</returns>
    public static int Run(string data, string output, int width = 128, int depth = 3, int steps = 4000, int batch = 256,
        double lr = 2e-3, ulong seed = 0, double ema = 0.999, double delta = 1e-3, double horizon = 8.0,
        int threads = 0, string dtype = "F32", double maxFrequency = 50, string prediction = "eps", TextWriter? stderr = null, TextWriter? stdout = null, CancellationToken cancel = default,
        bool conditional = false, double labelDropout = 0.15, string? lossLog = null, string? init = null, string? classWeights = null)
    {
        stderr ??= Console.Error; stdout ??= Console.Out;
        try
        {
            if (lossLog is not null && !lossLog.EndsWith(".csv", StringComparison.OrdinalIgnoreCase))
                throw new ArgumentException($"--loss-log must end in .csv, got '{lossLog}'");
            ITrainingData set = data switch
            {
                "checkerboard" => new Checkerboard(),
                "optdigits" => OptDigits.TrainingData(),
                "fashion-mnist" => FashionMnist.TrainingData(),
                _ when data.EndsWith(".npy", StringComparison.OrdinalIgnoreCase) => NpyData.Load(data),
                _ => throw new ArgumentException($"unknown data '{data}' (use optdigits, fashion-mnist, checkerboard or a .npy file)"),
            };
            double[]? weights = classWeights is null ? null : ParseClassWeights(classWeights, set);
            var type = Enum.TryParse<TensorDType>(dtype, true, out var dt) ? dt : throw new ArgumentException($"unknown dtype '{dtype}' (F32, F16, BF16)");
            var opts = new MlpTrainOptions
            {
                Width = width, Depth = depth, Steps = steps, Batch = batch, LearningRate = lr, Seed = seed, Ema = ema,
                Delta = delta, Horizon = horizon, Threads = threads, MaxFrequency = maxFrequency,
                Conditional = conditional, LabelDropout = labelDropout, ClassWeights = weights, Blas = BlasLibrary.Default,
                Prediction = prediction switch
                {
                    "eps" => MlpPrediction.Eps, "x0" => MlpPrediction.X0,
                    _ => throw new ArgumentException($"--prediction must be eps or x0, got '{prediction}'"),
                },
            };
            MlpModel? initModel = null;
            if (init is not null)
            {
                if (!File.Exists(init)) throw new ArgumentException($"--init: no file '{init}'");
                try { initModel = MlpModel.Load(init); }
                catch (InvalidDataException e) { throw new InvalidDataException($"--init {init}: {e.Message}", e); }
            }
            var trainer = new MlpTrainer(opts, set, initModel);
            if (initModel is not null)
                stderr.WriteLine($"train: warm start from {init}: {initModel.Describe()}{(initModel.Info.TryGetValue("train_steps", out var ist) ? $", {ist} steps" : "")}");
            stderr.WriteLine($"train: {set.Name}, d = {set.Dim}, {trainer.GemmDescription}");
            var sw = Stopwatch.StartNew();
            double smooth = double.NaN; long lastDraw = -1000;
            var curve = lossLog is null ? null : new List<(int step, double loss, double smooth, double seconds)>();
            trainer.Train((s, loss) =>
            {
                smooth = double.IsNaN(smooth) ? loss : 0.98 * smooth + 0.02 * loss;
                curve?.Add((s, loss, smooth, sw.Elapsed.TotalSeconds));
                long ms = sw.ElapsedMilliseconds;
                if (ms - lastDraw < 250 && s < steps) return;
                lastDraw = ms;
                const int bar = 30;
                int fill = (int)((long)bar * s / Math.Max(1, steps));
                stderr.Write(string.Create(CultureInfo.InvariantCulture,
                    $"\r[{new string('#', fill)}{new string('.', bar - fill)}] {s}/{steps} loss {smooth:F4} {ms / 1000.0:F1}s "));
            }, cancel);
            stderr.WriteLine();
            var cmd = string.Create(CultureInfo.InvariantCulture,
                $"cldiff train --data {data} --out {Path.GetFileName(output)} --width {width} --depth {depth} --steps {steps} --batch {batch} --lr {lr} --seed {seed} --ema {ema} --delta {delta} --max-frequency {maxFrequency} --prediction {prediction}{(threads > 0 ? $" --threads {threads}" : "")}{(dtype != "F32" ? $" --dtype {dtype}" : "")}{(conditional ? $" --conditional --label-dropout {labelDropout}" : "")}{(classWeights is not null ? $" --class-weights {classWeights}" : "")}{(init is not null ? $" --init {Path.GetFileName(init)}" : "")}");
            var info = new Dictionary<string, string> { ["train_command"] = cmd };
            if (initModel is not null)
            {
                // where the weights came from: the file, its own step count and (when it was itself warm-started) its origin
                var i = initModel.Info;
                info["train_init"] = $"{Path.GetFileName(init)} (train_steps {(i.TryGetValue("train_steps", out var s0) ? s0 : "unknown")}{(i.TryGetValue("train_steps_total", out var s1) ? $", train_steps_total {s1}" : "")}{(i.TryGetValue("train_init", out var s2) ? $", train_init {s2}" : "")})";
                if (i.TryGetValue("train_command", out var c0)) info["train_init_command"] = c0;
            }
            var model = trainer.ToModel(ema: ema > 0, info: info);
            var dir = Path.GetDirectoryName(Path.GetFullPath(output));
            if (dir is not null) Directory.CreateDirectory(dir);
            model.Save(output, type);
            if (curve is not null)
            {
                WriteLossCurve(lossLog!, curve, cmd);
                stdout.WriteLine($"wrote {lossLog} and {Path.ChangeExtension(lossLog!, ".png")}: the loss of each step");
            }
            stdout.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"wrote {output}: {model.Describe()}, {new FileInfo(output).Length} bytes, final loss {smooth:F4}, {sw.Elapsed.TotalSeconds:F1}s"));
            return 0;
        }
        catch (Exception e) when (e is ArgumentException or InvalidDataException or IOException)
        {
            stderr.WriteLine($"train: {e.Message}");
            return 1;
        }
    }

    /// <summary>"6=3,2=1.5" -> one weight per class of the data (unlisted: 1); the weights themselves are checked by MlpTrainOptions.Validate.</summary>
    public static double[] ParseClassWeights(string text, ITrainingData data)
    {
        int k = data is ILabelledTrainingData { NumClasses: > 0 } l ? l.NumClasses : throw new ArgumentException($"--class-weights: '{data.Name}' has no labels");
        var w = Enumerable.Repeat(1.0, k).ToArray();
        var seen = new HashSet<int>();
        foreach (var part in text.Split(','))
        {
            var kv = part.Split('=');
            if (kv.Length != 2 || !int.TryParse(kv[0].Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int c)
                || !double.TryParse(kv[1].Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out double v))
                throw new ArgumentException($"--class-weights: '{part}' is not CLASS=WEIGHT (e.g. 6=3)");
            if (c >= k) throw new ArgumentException($"--class-weights: class {c} is outside '{data.Name}''s classes 0..{k - 1}");
            if (!seen.Add(c)) throw new ArgumentException($"--class-weights: class {c} is given twice");
            w[c] = v;
        }
        return w;
    }

    /// <summary>
    /// The loss curve as CSV (step, batch loss, smoothed loss (EMA 0.98, what the progress bar shows), seconds) and
    /// a PNG beside it (the smoothed loss against the step, log scale), both written atomically.
    /// </summary>
    public static void WriteLossCurve(string csv, IReadOnlyList<(int step, double loss, double smooth, double seconds)> rows, string command)
    {
        var inv = CultureInfo.InvariantCulture;
        var sb = new System.Text.StringBuilder();
        sb.Append("# ").AppendLine(command);
        sb.AppendLine("step,loss,smoothed_loss,seconds");
        // a NaN batch loss (a curve read back from the progress bar, which shows only the smoothed loss) is left empty
        foreach (var r in rows) sb.AppendLine(string.Create(inv, $"{r.step},{(double.IsNaN(r.loss) ? "" : r.loss.ToString("G6", inv))},{r.smooth:G6},{r.seconds:F1}"));
        ClDiffusion.IO.AtomicFile.Write(csv, f => { var b = System.Text.Encoding.UTF8.GetBytes(sb.ToString()); f.Write(b); });
        int every = Math.Max(1, rows.Count / 400);
        bool thousands = rows.Count > 0 && rows[^1].step >= 20;   // the linear axis puts a tick at every integer
        var pts = rows.Where((r, i) => i % every == 0 || i == rows.Count - 1).Select(r => (thousands ? r.step / 1000.0 : r.step, r.smooth)).ToArray();
        var png = Path.ChangeExtension(csv, ".png");
        var tmp = png + ".tmp.png";
        Plot.LogLog(tmp, "training loss (smoothed)", thousands ? "step (thousands)" : "step", "loss", [new Plot.Series("smoothed loss", pts, null)], logX: false);
        File.Move(tmp, png, overwrite: true);
    }
}
