-- Trends (spec §5) per county, level, method and indicator over the years: county value and CV, change per year
-- (difference to the previous year with data / years between), and the projected crossing year: least-squares
-- line of the CV over the last five years with data (at least three), up to and including the row's year; the
-- first whole year in which the line is at or below the threshold; NULL when the line does not descend or the CV
-- is already within it. For the 2012 method the same on the composite (indicator 'composite').

with series as (
    select county_code, level, method, indicator, year, county_value, cv, cv_threshold
    from {{ ref('county_indicator_cv') }}
    union all
    select county_code, level, 'basic', 'composite', year, cast(null as double), composite_cv, composite_threshold
    from {{ ref('county_balance') }}
),

with_cv as (
    select
        *,
        lag(cv) over w as prev_cv,
        lag(year) over w as prev_cv_year,
        regr_slope(cv, year) over w5 as slope,
        regr_intercept(cv, year) over w5 as intercept,
        count(*) over w5 as points
    from series
    where cv is not null
    window w as (partition by county_code, level, method, indicator order by year),
           w5 as (partition by county_code, level, method, indicator order by year
                  rows between 4 preceding and current row)
),

with_value as (
    select
        county_code, level, method, indicator, year,
        lag(county_value) over w as prev_value,
        lag(year) over w as prev_value_year
    from series
    where county_value is not null
    window w as (partition by county_code, level, method, indicator order by year)
)

select
    cast(s.county_code as varchar) as county_code,
    cast(s.level as varchar) as level,
    cast(s.method as varchar) as method,
    cast(s.indicator as varchar) as indicator,
    cast(s.year as integer) as year,
    cast(s.county_value as double) as county_value,
    cast(s.cv as double) as cv,
    cast((s.county_value - v.prev_value) / (s.year - v.prev_value_year) as double) as value_change_per_year,
    cast((s.cv - c.prev_cv) / (s.year - c.prev_cv_year) as double) as cv_change_per_year,
    cast(s.cv_threshold as double) as cv_threshold,
    cast(s.cv <= s.cv_threshold as boolean) as meets_cv,
    cast(case when c.points >= 3 then c.slope end as double) as trend_slope,
    cast(case
        when c.points >= 3 and c.slope < 0 and s.cv > s.cv_threshold
            then ceil(round((s.cv_threshold - c.intercept) / c.slope, 9))
    end as integer) as projected_year
from series s
left join with_cv c using (county_code, level, method, indicator, year)
left join with_value v using (county_code, level, method, indicator, year)
