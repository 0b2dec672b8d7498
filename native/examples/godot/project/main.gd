# The ClDiffusion plugin in a frame loop: digits are sampled on the library's worker thread while _process keeps
# ticking at 60 frames per second and polls the job's progress; the picture is written with Image.save_png and,
# with a display, shown.
#
# Environment (all optional):
#   CLD_GODOT_MODEL   the digits model (default: the repository's models/optdigits.safetensors)
#   CLD_GODOT_TARGET  a labelled Gaussian-mixture JSON for the test's last job (default: the repository's
#                     native/examples/target2d_labelled.json)
#   CLD_GODOT_OUT     folder for digits.png and the test's sample files (default: user://)
#   CLD_GODOT_ONNX_DIR  the repository's tests/fixtures/onnx: ONNX models for the test (an ONNX job when the
#                     plugin has ONNX support, has_onnx(); else the check that an .onnx is refused naming it)
#   CLD_GODOT_DEVICE  engine device (default: cpu)
#   CLD_GODOT_TEST=1  also run the checks of native/examples/godot/run.sh (errors, progress, frame times, cancel,
#                     leaving the tree with a job running); the exit status is 0 only when every check passed
#
# Headless (godot3-server) the run quits by itself: status 0 when everything passed, 1 when a check failed,
# 2 when the plugin cannot be loaded, 3 when the frame watchdog fired.
extends Node2D

const CANCELLED = 7
const WATCHDOG_MS = 90000

var lib = null
var cld = null
var test = false
var headless = false
var out_dir = ""
var model_path = ""
var target_path = ""
var device = "cpu"

var failures = 0
var checks = 0
var frame = 0
var t_start = 0
var last_tick = 0
var idle_intervals = []
var phase = "idle"
var phases = []
var job = {}        # the running phase's record
var extra = null    # a second ClDiffusion node (cancel / leave-tree phases)


func check(cond, what):
	checks += 1
	if cond:
		print("  ok: ", what)
	else:
		failures += 1
		print("  FAILED: ", what)
	return cond


func _ready():
	t_start = OS.get_ticks_msec()
	last_tick = OS.get_ticks_usec()
	Engine.target_fps = 60
	headless = OS.get_name() == "Server"
	test = OS.get_environment("CLD_GODOT_TEST") == "1"
	out_dir = OS.get_environment("CLD_GODOT_OUT")
	if out_dir == "":
		out_dir = ProjectSettings.globalize_path("user://")
	model_path = OS.get_environment("CLD_GODOT_MODEL")
	if model_path == "":
		model_path = ProjectSettings.globalize_path("res://").plus_file("../../../../models/optdigits.safetensors")
	target_path = OS.get_environment("CLD_GODOT_TARGET")
	if target_path == "":
		target_path = ProjectSettings.globalize_path("res://").plus_file("../../target2d_labelled.json")
	if OS.get_environment("CLD_GODOT_DEVICE") != "":
		device = OS.get_environment("CLD_GODOT_DEVICE")

	lib = load("res://cldiffusion.gdns")
	if lib == null or not lib.can_instance():
		print("FATAL: the ClDiffusion plugin cannot be loaded (res://bin/libcldiffusion_godot.so and libcldiffusion.so)")
		get_tree().quit(2)
		set_process(false)
		return
	cld = lib.new()
	add_child(cld)
	print("libcldiffusion ", cld.version())
	# one worker thread: the frame loop keeps a core of its own on a small machine
	if not check(cld.open(device, 1) == OK, "open('%s', 1): %s" % [device, cld.get_last_error()]):
		finish()
		return
	print("engine: ", cld.get_device_name())
	if test:
		error_checks()
	if not check(cld.load_model(model_path) == OK, "load_model(%s) %s" % [model_path, cld.get_last_error()]):
		finish()
		return
	check(cld.get_model_dim() == 64, "the digits model has d = 64")

	# the jobs, one after the other: A, B, C and D are compared with `cldiff sample` by run.sh (the .args files hold
	# the CLI flags of the same run), B is the picture
	var digits = "--model '%s' " % model_path
	phases.append({"name": "A", "options": {"sampler": "rm-pc", "steps": 12, "seed": 7, "n": 12, "class": 3, "guidance": 1.5, "denoise": true},
		"args": digits + "--sampler rm-pc --steps 12 --seed 7 --n 12 --class 3 --guidance 1.5 --denoise"})
	var labels = []
	var text = ""
	for i in range(60):
		labels.append(i / 6)
		text += "%d\n" % (i / 6)
	write_text(out_dir.plus_file("jobB.labels"), text)
	phases.append({"name": "B", "options": {"sampler": "unipc", "steps": 10, "seed": 11, "n": 60, "labels": labels, "guidance": 2.0, "x0-start": "fresh"},
		"args": digits + "--sampler unipc --steps 10 --seed 11 --n 60 --labels '%s' --guidance 2 --x0-start fresh" % out_dir.plus_file("jobB.labels"), "picture": true})
	if test:
		phases.append({"name": "cancel"})
		phases.append({"name": "leave-tree"})
		# a Gaussian mixture (exact score: no matrix products, the same float arithmetic in every build)
		phases.append({"name": "C", "model": target_path, "d": 2,
			"options": {"sampler": "rm-x0", "steps": 30, "seed": 5, "n": 3000, "class": 1, "guidance": 0.5, "midpoint": 1, "grid": "logsnr"},
			"args": "--target '%s' --sampler rm-x0 --steps 30 --seed 5 --n 3000 --class 1 --guidance 0.5 --midpoint 1 --grid logsnr" % target_path})
		# an ONNX graph (a 3-d Gaussian's score) run by ONNX Runtime inside the plugin
		var onnx_dir = OS.get_environment("CLD_GODOT_ONNX_DIR")
		if onnx_dir != "" and cld.has_onnx():
			var onnx = onnx_dir.plus_file("gauss-ours.onnx")
			phases.append({"name": "D", "model": onnx, "d": 3,
				"options": {"sampler": "rm-pc", "steps": 20, "seed": 3, "n": 300},
				"args": "--model '%s' --sampler rm-pc --steps 20 --seed 3 --n 300" % onnx})
	# a few idle frames first: the frame interval without a job, for comparison
	last_tick = OS.get_ticks_usec()


# Bad inputs come back as values with the library's message; nothing crashes.
func error_checks():
	var bad = "/nonexistent/cld-godot-test/no-such-model.safetensors"
	var st = cld.load_model(bad)
	var msg = cld.get_last_error()
	print("  load_model of a missing file: status ", st, ": ", msg)
	check(st == 3, "a missing model file is CLD_ERR_IO (3)")
	check(msg.find(bad) >= 0, "the error names the path")
	# ONNX graphs: without ONNX support in the plugin an .onnx is an error value naming the file; with it, a graph
	# with other inputs and one in another time convention are refused naming the file and the reason
	var onnx_dir = OS.get_environment("CLD_GODOT_ONNX_DIR")
	if onnx_dir != "":
		var good = onnx_dir.plus_file("gauss-ours.onnx")
		if not cld.has_onnx():
			st = cld.load_model(good)
			check(st != OK and cld.get_last_error().find("gauss-ours.onnx") >= 0, "an .onnx model is refused naming it (no ONNX support in this build): status %d, %s" % [st, cld.get_last_error()])
		else:
			st = cld.load_model(onnx_dir.plus_file("bad-names.onnx"))
			check(st == 4 and cld.get_last_error().find("bad-names.onnx") >= 0, "an ONNX graph with other inputs is refused: status %d, %s" % [st, cld.get_last_error()])
			st = cld.load_model(onnx_dir.plus_file("gauss-edm.onnx"))
			check(st == 4 and cld.get_last_error().find("edm") >= 0, "an ONNX graph in the EDM time convention is refused: status %d, %s" % [st, cld.get_last_error()])
			st = cld.load_model(onnx_dir.plus_file("no-such-model.onnx"))
			check(st == 3 and cld.get_last_error().find("no-such-model.onnx") >= 0, "a missing .onnx is CLD_ERR_IO naming it: " + cld.get_last_error())
	var other = lib.new()
	add_child(other)
	st = other.open("no-such-device", 0)
	check(st != OK and other.get_last_error().find("no-such-device") >= 0, "an unknown device is an error naming it: " + other.get_last_error())
	check(other.start({"n": 4}) != OK and other.get_last_error().find("no model") >= 0, "start without a model is an error: " + other.get_last_error())
	check(other.get_samples().size() == 0 and other.get_last_error() != "", "get_samples without a job: empty, with an error")
	check(other.poll()["status"] != OK, "poll without a job: an error status")
	check(other.start("not a dictionary") != OK, "start with a wrong argument: an error value, " + other.get_last_error())
	check(other.load_model() != OK, "load_model with no argument: an error value, " + other.get_last_error())
	remove_child(other)
	other.free()
	# a model's settings by name: an unknown key is refused naming it
	var st2 = cld.load_model(model_path)
	check(st2 == OK, "load_model(digits)")
	check(cld.start({"n": 4, "no-such-key": 1}) != OK and cld.get_last_error().find("no-such-key") >= 0,
		"an unknown setting is an error naming it: " + cld.get_last_error())
	check(cld.start({"n": 4, "steps": "many"}) != OK and cld.get_last_error().find("steps") >= 0,
		"a bad setting value is an error naming it: " + cld.get_last_error())
	check(cld.start({"n": 4, "class": 99}) != OK and cld.get_last_error() != "",
		"a class the model lacks is an error: " + cld.get_last_error())
	check(cld.start({"n": 4, "labels": [1, 2]}) != OK, "labels of the wrong length: " + cld.get_last_error())


func next_phase():
	if phases.empty():
		finish()
		return
	job = phases.pop_front()
	phase = job["name"]
	job["frames"] = 0
	job["progress"] = []
	job["intervals"] = []
	job["poll_us"] = []
	job["t0"] = OS.get_ticks_usec()
	print("phase ", phase)
	if job.has("model"):
		check(cld.load_model(job["model"]) == OK, "load_model(%s) %s" % [job["model"], cld.get_last_error()])
	if job.has("options"):
		var t0 = OS.get_ticks_usec()
		var st = cld.start(job["options"])
		job["start_us"] = OS.get_ticks_usec() - t0
		check(st == OK, "start job %s: %s" % [phase, cld.get_last_error()])
	elif phase == "cancel":
		# long enough that it cannot end by itself before the cancel (5000 steps), each step short (4 digits)
		check(cld.start({"sampler": "rm-pc", "steps": 5000, "seed": 3, "n": 4, "class": 5}) == OK, "start a long job: " + cld.get_last_error())
	elif phase == "leave-tree":
		extra = lib.new()
		add_child(extra)
		check(extra.open(device, 1) == OK and extra.load_model(model_path) == OK, "a second node with the model: " + extra.get_last_error())
		check(extra.start({"sampler": "rm-pc", "steps": 5000, "seed": 4, "n": 4}) == OK, "a long job on it: " + extra.get_last_error())


func _process(_delta):
	var now = OS.get_ticks_usec()
	var interval = (now - last_tick) / 1000.0
	last_tick = now
	frame += 1
	if OS.get_ticks_msec() - t_start > WATCHDOG_MS:
		print("FAILED: watchdog: still running after %d ms (%d frames, phase %s)" % [WATCHDOG_MS, frame, phase])
		get_tree().quit(3)
		set_process(false)
		return
	if phase == "idle":
		if frame > 1:
			idle_intervals.append(interval)
		if idle_intervals.size() >= 10:
			next_phase()
		return
	if phase == "done":
		return
	job["frames"] += 1
	if job["frames"] > 1:   # the first interval holds the frame that ended the phase before (files, the picture)
		job["intervals"].append(interval)
	if job.has("options"):
		var p = timed_poll(cld)
		if p["done"]:
			finish_sampling(p)
	elif phase == "cancel":
		var p = timed_poll(cld)
		if not job.has("cancel_frame"):
			# frames in which the progress rose since the frame before: the job runs beside the frame loop
			var prev = job.get("last", 0.0)
			if p["progress"] > prev:
				job["rises"] = job.get("rises", 0) + 1
			job["last"] = p["progress"]
			if p["done"]:
				check(false, "the long job ended before it was cancelled (status %d)" % p["status"])
				next_phase()
			elif job.get("rises", 0) >= 3:
				var iv = job["intervals"].duplicate()
				iv.sort()
				print("  long job: progress %.4f after %d frames, rising in %d of them; frame interval median %.1f ms, max %.1f ms"
					% [p["progress"], job["frames"], job["rises"], iv[iv.size() / 2], iv[iv.size() - 1]])
				check(true, "the long job's progress rose over 3 frames while the frame loop ticked")
				check(cld.cancel() == OK, "cancel()")
				job["cancel_frame"] = job["frames"]
				job["cancel_us"] = OS.get_ticks_usec()
				job["cancel_progress"] = p["progress"]
			elif job["frames"] > 600:
				check(false, "the long job's progress did not rise in 3 of 600 frames")
				cld.cancel()
				next_phase()
		elif p["done"]:
			var after = job["frames"] - job["cancel_frame"]
			var ms = (OS.get_ticks_usec() - job["cancel_us"]) / 1000.0
			print("  cancel at progress %.4f: done %d frame(s) later (%.1f ms), status %d (%s)" % [job["cancel_progress"], after, ms, p["status"], p["error"]])
			check(p["status"] == CANCELLED, "the cancelled job's status is CLD_ERR_CANCELLED (7)")
			check(after <= 2, "the cancel ends the job within two frames")
			check(cld.get_samples().size() == 0 and cld.get_last_error().find("cancel") >= 0, "no samples from a cancelled job: " + cld.get_last_error())
			next_phase()
		elif job["frames"] - job["cancel_frame"] > 120:
			check(false, "the cancelled job still runs 120 frames later")
			next_phase()
	elif phase == "leave-tree":
		if job.has("left"):
			if job["frames"] - job["left"] >= 5:
				check(true, "the frame loop ticks on after nodes with running jobs left the tree")
				next_phase()
			return
		var p = extra.poll()
		if p["progress"] > 0.0 and job["frames"] >= 3:
			check(not p["done"], "the second node's job runs when its node leaves the tree (progress %.4f)" % p["progress"])
			var t0 = OS.get_ticks_usec()
			remove_child(extra)   # _exit_tree: the job is cancelled and freed, then the model and the engine
			var ms = (OS.get_ticks_usec() - t0) / 1000.0
			print("  remove_child with a job running took %.2f ms" % ms)
			var after = extra.poll()
			check(after["status"] != OK and after["error"].find("no job") >= 0, "after leaving the tree the node holds no job")
			extra.free()
			extra = null
			job["left"] = job["frames"]
			# and a third node freed outright with its job running (queue_free: _exit_tree, then the destructor)
			var third = lib.new()
			add_child(third)
			check(third.open(device, 1) == OK and third.load_model(model_path) == OK and third.start({"n": 4, "steps": 5000}) == OK,
				"a third node with a long job: " + third.get_last_error())
			third.queue_free()
		elif job["frames"] > 600:
			check(false, "the second node's job shows no progress after 600 frames")
			next_phase()


func timed_poll(node):
	var t0 = OS.get_ticks_usec()
	var p = node.poll()
	job["poll_us"].append(OS.get_ticks_usec() - t0)
	job["progress"].append(p["progress"])
	return p


func finish_sampling(p):
	var secs = (OS.get_ticks_usec() - job["t0"]) / 1e6
	if not check(p["status"] == OK, "job %s finished: %s" % [phase, p["error"]]):
		next_phase()
		return
	var x = cld.get_samples()
	var n = job["options"]["n"]
	var d = job.get("d", 64)
	check(x.size() == n * d, "job %s: %d floats (n x d = %d)" % [phase, x.size(), n * d])
	# frame times while the job ran
	var iv = job["intervals"].duplicate()
	iv.sort()
	var pu = job["poll_us"].duplicate()
	pu.sort()
	var idle = idle_intervals.duplicate()
	idle.sort()
	var idle_med = idle[idle.size() / 2] if idle.size() > 0 else 0.0
	print("  job %s: %.3f s over %d frames; frame interval median %.1f ms, max %.1f ms (idle before: median %.1f ms over %d frames); poll() median %d us, max %d us; start() %d us"
		% [phase, secs, job["frames"], iv[iv.size() / 2], iv[iv.size() - 1], idle_med, idle.size(), pu[pu.size() / 2], pu[pu.size() - 1], job["start_us"]])
	if test:
		# the job runs beside the frame loop: no frame waits for it (judged when the job spans 4 frames or more:
		# on a fast machine a job may end within a frame or two; the long job of the cancel phase shows progress
		# rising over frames on every machine)
		if job["frames"] >= 4:
			check(iv[iv.size() - 1] * 1000.0 < secs * 1e6 / 2.0, "no frame took half the job's time (the loop never waits for the job)")
			check(pu[pu.size() - 1] < secs * 1e6 / 4.0, "poll() never took a quarter of the job's time (it does not wait)")
		else:
			print("  job %s spans %d frames: too short to judge the frame times" % [phase, job["frames"]])
		# progress rises over the frames, never falls, and ends at 1
		var prog = job["progress"]
		var rising = true
		var distinct = {}
		for i in range(1, prog.size()):
			if prog[i] < prog[i - 1]:
				rising = false
		for v in prog:
			if v > 0.0 and v < 1.0:
				distinct[v] = true
		check(rising, "job %s: progress never falls" % phase)
		if job["frames"] >= 4:
			check(distinct.size() >= 2, "job %s: progress rises over frames (%d distinct values in (0, 1))" % [phase, distinct.size()])
		check(prog[prog.size() - 1] == 1.0, "job %s: progress ends at 1" % phase)
	var finite = true
	for v in x:
		if is_nan(v) or is_inf(v):
			finite = false
	check(finite, "job %s: the samples are finite" % phase)
	write_floats(out_dir.plus_file("job%s.f32" % phase), x)
	write_text(out_dir.plus_file("job%s.args" % phase), job["args"] + "\n")
	if job.get("picture", false):
		picture(x, n)
	next_phase()


# 8x8 greys (the optdigits range 0..16), one row per class of 6 samples, 4 pixels per value
func picture(x, n):
	var cols = 6
	var rows = (n + cols - 1) / cols
	var scale = 4
	var pad = 2
	var cell = 8 * scale + pad
	var img = Image.new()
	img.create(cols * cell + pad, rows * cell + pad, false, Image.FORMAT_RGB8)
	img.fill(Color8(40, 40, 60))
	img.lock()
	for s in range(n):
		var ox = pad + (s % cols) * cell
		var oy = pad + (s / cols) * cell
		for p in range(64):
			var v = clamp(x[s * 64 + p] / 16.0, 0.0, 1.0)
			for dy in range(scale):
				for dx in range(scale):
					img.set_pixel(ox + (p % 8) * scale + dx, oy + (p / 8) * scale + dy, Color(v, v, v))
	img.unlock()
	var path = out_dir.plus_file("digits.png")
	check(img.save_png(path) == OK, "Image.save_png(%s)" % path)
	if not headless:
		var tex = ImageTexture.new()
		tex.create_from_image(img, 0)
		var sprite = Sprite.new()
		sprite.texture = tex
		sprite.centered = false
		sprite.scale = Vector2(2, 2)
		add_child(sprite)


func write_floats(path, x):
	var f = File.new()
	if not check(f.open(path, File.WRITE) == OK, "write " + path):
		return
	for v in x:
		f.store_float(v)
	f.close()


func write_text(path, text):
	var f = File.new()
	if f.open(path, File.WRITE) == OK:
		f.store_string(text)
		f.close()


func finish():
	phase = "done"
	if test and cld != null:
		# quit with a job still running on the main node: the tree frees it on the way out
		check(cld.start({"sampler": "rm-pc", "steps": 5000, "seed": 9, "n": 100000}) == OK, "a long job left running at quit: " + cld.get_last_error())
	print("%d checks, %d failed (%.2f s, %d frames)" % [checks, failures, (OS.get_ticks_msec() - t_start) / 1000.0, frame])
	if failures == 0:
		print("ALL CHECKS PASSED" if test else "done")
	if headless or test:
		get_tree().quit(0 if failures == 0 else 1)
