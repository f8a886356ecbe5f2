// Every new native allocation is filled with NaN bytes, so kernels that skip an output element fail.
process.env.MATHRL_POISON = '1';
