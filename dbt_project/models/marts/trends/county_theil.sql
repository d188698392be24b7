-- Theil-T per county, year, level, method and indicator (spec §5), student-weighted, over the method's scope:
-- T = sum (R_i/R) ln((R_i/R)/(P_i/P)) (a part with R_i = 0 contributes 0), decomposed into urban/town/rural
-- groups: T = T_between + sum_g (R_g/R) T_g. Group rows are in county_theil_group.

select
    cast(county_code as varchar) as county_code,
    cast(year as integer) as year,
    cast(level as varchar) as level,
    cast(method as varchar) as method,
    cast(indicator as varchar) as indicator,
    cast(sum(schools) as integer) as schools,
    cast(sum(theil_t_group_contribution) + sum(between_term) as double) as theil_t,
    cast(sum(between_term) as double) as theil_between,
    cast(sum(theil_t_group_contribution) as double) as theil_within
from {{ ref('county_theil_group') }}
group by county_code, year, level, method, indicator
