function matrixirls_cell(problem_file, result_file, mirls_path, mex_dir)
% Solve one completion problem written by bench_matrixirls.py with MatrixIRLS
% (Kuemmerle & Verdun, code at MIRLS_PATH, not part of linrfm) and save, per
% iterate, the time inside Octave (MatrixIRLS's own tic/toc) and the relative
% Frobenius error to the planted matrix. Error evaluation is outside the timing.
%
% The problem file holds d1, d2, r, rows, cols (1-based), y, U0, V0 and the
% options (tol, tol_CG, N0, N0_inner, epsmin) of the authors' ill-conditioned
% experiment (experiments/experiment_ICML2021_Figure3_kappa1e10_rank10.m).
addpath(mex_dir);
addpath(genpath(fullfile(mirls_path, 'algorithms', 'MatrixIRLS')));
addpath(genpath(fullfile(mirls_path, 'tools')));
P = load(problem_file);
d1 = double(P.d1); d2 = double(P.d2); r = double(P.r);
lin = (double(P.cols(:)) - 1) * d1 + double(P.rows(:));
[lin, order] = sort(lin);  % MatrixIRLS orders y like find(Phi): column-major
y = double(P.y(:));
y = y(order);
rows = mod(lin - 1, d1) + 1;
cols = floor((lin - 1) / d1) + 1;
m = numel(lin);

opts = getDefaultOpts_IRLS;
opts.p = 0;
opts.tol = double(P.tol);
opts.tol_CG = double(P.tol_CG);
opts.N0 = double(P.N0);
opts.N0_inner = double(P.N0_inner);
opts.type_mean = 'geometric';
opts.epsmin = double(P.epsmin);
opts.saveiterates = 1;
opts.verbose = 0;
prob.d1 = d1; prob.d2 = d2; prob.r = r;  % the true rank, as its authors run it
prob.Phi = sparse(rows, cols, ones(m, 1), d1, d2);
prob.y = y;  % a column (m x 1), as MatrixIRLS documents

t0 = tic;
[Xr, outs] = MatrixIRLS(prob, 0, opts);
wall = toc(t0);

X0 = double(P.U0) * double(P.V0).';
nrm = norm(X0, 'fro');
n_it = outs.N;
rel_err = zeros(1, n_it);
for k = 1:n_it
  % a fresh placeholder each time: setSval writes into the sparse data in place
  plc = sparse(rows, cols, ones(m, 1), d1, d2);
  rel_err(k) = norm(get_densemat_from_compact(outs.X{k}, plc) - X0, 'fro') / nrm;
end
plc = sparse(rows, cols, ones(m, 1), d1, d2);
E = get_densemat_from_compact(Xr, plc) - X0;
final_abs_err = norm(E, 'fro');
times = outs.time(1:n_it);
save('-v7', result_file, 'rel_err', 'times', 'wall', 'final_abs_err', 'n_it');
end
