{{ config(materialized='table', tags=['plan']) }}
-- One row per county, data year and target year planned (spec §6): the solver's status, the plan's cost by category
-- (from investment_plan), its proven lower bound and the gap, and whether the official models confirmed it.

with additions as (
    select
        county_code, year, target_year,
        sum(cost) filter (where cost_kind = 'capital') as cost_capital,
        sum(cost) filter (where cost_kind = 'annual') as cost_annual,
        sum(amount) filter (where resource in ('teachers_above_degree', 'backbone_teachers', 'pe_art_teachers')) as teachers_added,
        sum(amount) filter (where resource = 'teachers_above_degree') as teachers_above_degree_added,
        sum(amount) filter (where resource = 'backbone_teachers') as backbone_teachers_added,
        sum(amount) filter (where resource = 'pe_art_teachers') as pe_art_teachers_added,
        sum(cost) filter (where resource in ('teachers_above_degree', 'backbone_teachers', 'pe_art_teachers')) as teachers_cost,
        sum(amount) filter (where resource = 'teaching_aux_area_m2') as teaching_aux_area_m2_added,
        sum(cost) filter (where resource = 'teaching_aux_area_m2') as teaching_aux_area_cost,
        sum(amount) filter (where resource = 'sports_area_m2') as sports_area_m2_added,
        sum(cost) filter (where resource = 'sports_area_m2') as sports_area_cost,
        sum(amount) filter (where resource = 'equipment_value_yuan') as equipment_yuan_added,
        sum(amount) filter (where resource = 'multimedia_classrooms') as multimedia_classrooms_added,
        sum(cost) filter (where resource = 'multimedia_classrooms') as multimedia_classrooms_cost,
        count(distinct school_code) as schools_with_additions
    from {{ ref('investment_plan') }}
    group by all
),

flagged as (
    -- parts whose census inputs carry a warning flag: the plan answers the data as submitted, slips included
    select county_code, year, count(*) filter (where warning_flagged) as flagged_parts
    from {{ ref('school_quality_compliance') }}
    group by all
)

select
    cast(c.county_code as varchar) as county_code,
    cast(c.year as integer) as year,
    cast(c.target_year as integer) as target_year,
    cast(c.status as varchar) as status,
    cast(case c.status
        when 'optimal' then '最优方案'
        when 'feasible' then '可行方案（未证明最优）'
        when 'not_needed' then '已达标，无需投入'
        when 'infeasible' then '无可行方案'
        when 'no_data' then '数据缺失，无法求解'
        when 'no_solution' then '时限内未求得方案'
        when 'rejected' then '复核未通过，未发布'
    end as varchar) as status_zh,
    cast(c.verified as boolean) as verified,
    cast(coalesce(c.reason_zh, '') || coalesce(c.verification_zh, '') as varchar) as explanation_zh,
    cast(case when c.status in ('optimal', 'feasible', 'not_needed') then c.cost end as double) as cost_total,
    cast(coalesce(a.cost_capital, 0) as double) as cost_capital,
    cast(coalesce(a.cost_annual, 0) as double) as cost_annual,
    cast(c.lower_bound as double) as lower_bound,
    cast(c.gap as double) as gap,
    cast(coalesce(a.teachers_added, 0) as double) as teachers_added,
    cast(coalesce(a.teachers_above_degree_added, 0) as double) as teachers_above_degree_added,
    cast(coalesce(a.backbone_teachers_added, 0) as double) as backbone_teachers_added,
    cast(coalesce(a.pe_art_teachers_added, 0) as double) as pe_art_teachers_added,
    cast(coalesce(a.teachers_cost, 0) as double) as teachers_cost,
    cast(coalesce(a.teaching_aux_area_m2_added, 0) as double) as teaching_aux_area_m2_added,
    cast(coalesce(a.teaching_aux_area_cost, 0) as double) as teaching_aux_area_cost,
    cast(coalesce(a.sports_area_m2_added, 0) as double) as sports_area_m2_added,
    cast(coalesce(a.sports_area_cost, 0) as double) as sports_area_cost,
    cast(coalesce(a.equipment_yuan_added, 0) as double) as equipment_yuan_added,
    cast(coalesce(a.multimedia_classrooms_added, 0) as double) as multimedia_classrooms_added,
    cast(coalesce(a.multimedia_classrooms_cost, 0) as double) as multimedia_classrooms_cost,
    cast(coalesce(a.schools_with_additions, 0) as integer) as schools_with_additions,
    cast(c.student_factor_primary as double) as student_factor_primary,
    cast(c.student_factor_junior as double) as student_factor_junior,
    cast(coalesce(f.flagged_parts, 0) as integer) as flagged_parts,
    cast(c.solver as varchar) as solver,
    cast(c.solve_seconds as double) as solve_seconds,
    cast(c.costs_source as varchar) as costs_source,
    cast(c.planned_at as timestamp) as planned_at
from {{ source('planner', 'plan_counties') }} c
left join additions a using (county_code, year, target_year)
left join flagged f using (county_code, year)
